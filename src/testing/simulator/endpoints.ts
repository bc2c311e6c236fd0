/**
 * The endpoints besides chat: models, token estimate, balance, users/me. They need a
 * valid key but never count toward the account's limits, as on Kimi.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AccountState } from './accounts.js';
import { simulatedPromptTokens } from './content.js';
import { sendError, sendJson } from './http.js';
import { parseModelAndMessages } from './requests.js';
import type { SimulatorState } from './state.js';

/** `created` of every listed model: a fixed date keeps `/v1/models` deterministic. */
const MODELS_CREATED = 1_767_225_600; // 2026-01-01T00:00:00Z

/** `GET /v1/models`. */
export function listModels(state: SimulatorState, res: ServerResponse, headers: OutgoingHttpHeaders): void {
  sendJson(res, 200, headers, {
    object: 'list',
    data: state.options.models.map((id) => ({ id, object: 'model', created: MODELS_CREATED, owned_by: 'moonshot' })),
  });
}

/** `POST /v1/tokenizers/estimate-token-count`: the exact count the chat endpoint will charge. */
export function estimateTokens(
  state: SimulatorState,
  res: ServerResponse,
  headers: OutgoingHttpHeaders,
  bodyText: string,
): void {
  const parsed = parseModelAndMessages(bodyText, state.options.models);
  if (!parsed.ok) {
    sendError(res, headers, parsed.error);
    return;
  }
  sendJson(res, 200, headers, {
    code: 0,
    data: { total_tokens: simulatedPromptTokens(parsed.value.messages) },
    scode: '0x0',
    status: true,
  });
}

/** `GET /v1/users/me/balance`: the whole balance is cash, vouchers are 0. */
export function balance(account: AccountState, res: ServerResponse, headers: OutgoingHttpHeaders): void {
  sendJson(res, 200, headers, {
    code: 0,
    data: { available_balance: account.balance, voucher_balance: 0, cash_balance: account.balance },
    scode: '0x0',
    status: true,
  });
}

/**
 * `GET /v1/users/me` (undocumented on Kimi): the organisation's id and limits
 * as they stand now (a tier change shows at once). An unlimited TPD is left
 * out: JSON has no Infinity.
 */
export function me(account: AccountState, res: ServerResponse, headers: OutgoingHttpHeaders): void {
  const l = account.limits;
  const n = (v: number): number | undefined => (Number.isFinite(v) ? v : undefined);
  sendJson(res, 200, headers, {
    code: 0,
    data: {
      id: account.uid,
      organization: {
        id: account.id,
        max_concurrency: n(l.concurrency),
        max_request_per_minute: n(l.rpm),
        max_token_per_minute: n(l.tpm),
        max_token_quota: n(l.tpd),
      },
    },
    scode: '0x0',
    status: true,
  });
}
