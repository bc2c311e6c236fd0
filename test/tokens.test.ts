import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TOKENS, estimatePromptTokens, maxTokensOf, type TokenCountable } from '../src/tokens.js';

describe('estimatePromptTokens', () => {
  const cases: [string, TokenCountable, number][] = [
    ['no messages', {}, 3],
    ['empty message list', { messages: [] }, 3],
    // 3 + (4 + ceil(bytes / 3)) per message
    ['one short message', { messages: [{ role: 'user', content: 'hello' }] }, 3 + 4 + 2],
    ['two messages', { messages: [{ role: 'system', content: 'abc' }, { role: 'user', content: 'abcd' }] }, 3 + (4 + 1) + (4 + 2)],
    ['null content', { messages: [{ role: 'assistant', content: null }] }, 3 + 4],
    ['Chinese text counts bytes (3 per char)', { messages: [{ role: 'user', content: '你好世界' }] }, 3 + 4 + 4],
    ['a name', { messages: [{ role: 'user', content: 'abc', name: 'bobby' }] }, 3 + 4 + 1 + 2],
    ['array content is serialised', { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }, 3 + 4 + Math.ceil(JSON.stringify([{ type: 'text', text: 'hi' }]).length / 3)],
    ['tools count', { messages: [], tools: [{ type: 'function' }] }, 3 + Math.ceil(JSON.stringify([{ type: 'function' }]).length / 3)],
    ['response_format counts', { messages: [], response_format: { type: 'json_object' } }, 3 + Math.ceil(JSON.stringify({ type: 'json_object' }).length / 3)],
    ['a null message does not throw', { messages: [null] }, 3 + 4],
  ];
  it.each(cases)('%s', (_, params, expected) => {
    expect(estimatePromptTokens(params)).toBe(expected);
  });

  it('does not undercount English (about 4 characters a token)', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(100);
    expect(estimatePromptTokens({ messages: [{ role: 'user', content: text }] })).toBeGreaterThan(text.length / 4);
  });
});

describe('maxTokensOf', () => {
  const cases: [string, TokenCountable, number | undefined][] = [
    ['none', {}, undefined],
    ['max_tokens', { max_tokens: 100 }, 100],
    ['max_completion_tokens wins', { max_tokens: 100, max_completion_tokens: 50 }, 50],
    ['null max_tokens', { max_tokens: null }, undefined],
    ['zero', { max_tokens: 0 }, 0],
  ];
  it.each(cases)('%s', (_, params, expected) => {
    expect(maxTokensOf(params)).toBe(expected);
  });

  it('the default reservation is 32k', () => {
    expect(DEFAULT_MAX_TOKENS).toBe(32_768);
  });
});
