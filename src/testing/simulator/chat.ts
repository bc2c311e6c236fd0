/**
 * `POST /v1/chat/completions`: validation, limit admission, fault injection,
 * then a JSON or SSE answer whose content is {@link expectedReply}.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AccountState } from './accounts.js';
import { expectedReply, simulatedCompletionTokens, simulatedPromptTokens, splitText } from './content.js';
import { kimiErrors } from './errors.js';
import { planFaults } from './faults.js';
import { sendError, sendJson, sleep, write } from './http.js';
import { parseChatRequest, type ChatRequest } from './requests.js';
import type { SimulatorState } from './state.js';
import type { ArrivalKind, FaultKind } from './types.js';

/** Number of content chunks a stream is split into. */
const STREAM_CHUNKS = 4;

/** Everything a handler needs about one HTTP exchange. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** `Msh-*` headers already chosen for this answer. */
  readonly headers: OutgoingHttpHeaders;
  readonly key: string;
  readonly account: AccountState;
  /** Arrival on the window clock (after the body was read). */
  readonly now: number;
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number;
}

/** Handles one chat request from an authenticated key. */
export async function handleChat(state: SimulatorState, ex: Exchange, bodyText: string): Promise<void> {
  const { account, key, now } = ex;
  const log = (kind: ArrivalKind, status: number, tokens: number, counted: boolean): void =>
    state.record({ t: state.sinceStart(now), account: account.id, key: state.keyName(key), status, kind, tokens, counted });

  const parsed = parseChatRequest(bodyText, state.options.models);
  if (!parsed.ok) {
    account.stats.refused.invalid += 1;
    log('invalid', parsed.error.status, 0, false);
    sendError(ex.res, ex.headers, parsed.error);
    return;
  }
  const request = parsed.value;
  const promptTokens = simulatedPromptTokens(request.messages);
  const reserved = promptTokens + (request.maxTokens ?? state.options.defaultMaxTokens);

  const admission = account.admit(key, reserved, now, state.sinceStart(now));
  if (!admission.ok) {
    log(admission.kind, admission.error.status, reserved, false);
    sendError(ex.res, ex.headers, admission.error);
    return;
  }
  // Admitted: in flight until the answer is over, however it ends.
  state.track(new Promise<void>((resolve) => {
    ex.res.once('close', () => {
      account.release();
      resolve();
    });
  }));

  // A faulted request still counts for RPM/TPM/TPD: the server received and
  // reserved it before failing, and a pool that retries at once must feel that.
  const plan = planFaults(state.faults, state.options.latencyMs, state.random, request.stream);
  if (plan.fault) account.stats.faults[plan.fault] += 1;
  else account.stats.served += 1;
  log(plan.fault ?? 'served', statusOf(plan.fault), reserved, true);

  const cached = state.options.promptCache ? account.promptCache.lookup(request.messages) : 0;
  const usage = usageOf(request, promptTokens, cached);
  if (plan.fault === null) {
    account.stats.promptTokens += usage.prompt_tokens;
    account.stats.completionTokens += usage.completion_tokens;
    account.stats.cachedTokens += usage.cached_tokens;
  }
  if (request.stream && (plan.fault === null || plan.fault === 'streamCut' || plan.fault === 'malformed')) {
    await streamReply(state, ex, request, usage, plan.latencyMs, plan.fault);
    return;
  }
  if (!(await sleep(plan.latencyMs, state.closing.signal))) return;
  answer(state, ex, request, usage, plan.fault);
}

function statusOf(fault: FaultKind | null): number {
  switch (fault) {
    case 'dropped': return 0;
    case 'overloaded': return 429;
    case 'server': return 500;
    case 'unavailable': return 503;
    default: return 200;
  }
}

function usageOf(request: ChatRequest, promptTokens: number, cachedTokens: number): Usage {
  const completion = simulatedCompletionTokens(expectedReply(request.messages));
  return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion, cached_tokens: cachedTokens };
}

/** Non-stream answers, and the error faults of streams (those fail before any chunk). */
function answer(state: SimulatorState, ex: Exchange, request: ChatRequest, usage: Usage, fault: FaultKind | null): void {
  switch (fault) {
    case 'dropped':
      ex.req.socket.destroy();
      return;
    case 'overloaded': {
      const retryAfter = state.faults.retryAfterHeader;
      const headers = retryAfter === undefined ? ex.headers : { ...ex.headers, 'retry-after': String(retryAfter) };
      sendError(ex.res, headers, kimiErrors.overloaded());
      return;
    }
    case 'server':
      sendError(ex.res, ex.headers, kimiErrors.server());
      return;
    case 'unavailable':
      sendError(ex.res, ex.headers, kimiErrors.unavailable());
      return;
    default:
  }
  const body = JSON.stringify({
    id: `chatcmpl-${randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: [
      { index: 0, message: { role: 'assistant', content: expectedReply(request.messages) }, finish_reason: 'stop' },
    ],
    usage,
  });
  // Malformed: a 200 whose JSON stops half way, as a broken proxy would send it.
  sendJson(ex.res, 200, ex.headers, fault === 'malformed' ? body.slice(0, Math.floor(body.length / 2)) : body);
}

/**
 * SSE answer: the first chunk after half the latency, the rest spread evenly
 * so the last one lands at the full latency. Kimi puts the usage in
 * `choices[0].usage` of the last content chunk; `include_usage` adds the
 * OpenAI-style final chunk with `choices: []` and top-level `usage`.
 */
async function streamReply(
  state: SimulatorState,
  ex: Exchange,
  request: ChatRequest,
  usage: Usage,
  latencyMs: number,
  fault: FaultKind | null,
): Promise<void> {
  const signal = state.closing.signal;
  const { res } = ex;
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const parts = splitText(expectedReply(request.messages), STREAM_CHUNKS);
  const head = { id, object: 'chat.completion.chunk', created, model: request.model };
  const step = parts.length > 1 ? latencyMs / 2 / (parts.length - 1) : 0;

  if (!(await sleep(parts.length > 1 ? latencyMs / 2 : latencyMs, signal)) || res.destroyed) return;
  res.writeHead(200, {
    ...ex.headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
  });
  if (fault === 'malformed') {
    // A data line whose JSON is cut off, then the end of the stream without [DONE].
    const line = JSON.stringify({ ...head, choices: [{ index: 0, delta: { role: 'assistant', content: parts[0] } }] });
    res.end(`data: ${line.slice(0, Math.floor(line.length / 2))}\n\n`);
    return;
  }
  for (const [i, content] of parts.entries()) {
    if (i > 0 && !(await sleep(step, signal))) return;
    const last = i === parts.length - 1;
    const delta = i === 0 ? { role: 'assistant', content } : { content };
    const choice = last
      ? { index: 0, delta, finish_reason: 'stop', usage }
      : { index: 0, delta, finish_reason: null };
    if (!(await write(res, `data: ${JSON.stringify({ ...head, choices: [choice] })}\n\n`))) return;
    if (fault === 'streamCut') {
      // Written and flushed: now the connection dies mid-stream.
      res.destroy();
      return;
    }
  }
  if (request.includeUsage) {
    if (!(await write(res, `data: ${JSON.stringify({ ...head, choices: [], usage })}\n\n`))) return;
  }
  res.end('data: [DONE]\n\n');
}
