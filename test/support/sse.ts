// A Server-Sent Events client for tests: reads a text/event-stream response event by event, as
// EventSource would, and can hang up after some events (to resume later with Last-Event-ID).
import assert from 'node:assert/strict';

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

export interface SseRead {
  status: number;
  events: SseEvent[];
  /** Whether the server ended the response (rather than the client hanging up). */
  ended: boolean;
}

/** GETs `url` and collects its events until the server ends the response or `until` says to hang up. */
export async function readSse(url: string, options: { lastEventId?: string; until?: (events: SseEvent[]) => boolean } = {}): Promise<SseRead> {
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (options.lastEventId !== undefined) headers['Last-Event-ID'] = options.lastEventId;
  const response = await fetch(url, { headers });
  const events: SseEvent[] = [];
  if (response.status !== 200 || response.body === null) return { status: response.status, events, ended: true };
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { event: 'message', id: undefined, data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event.event = value;
        else if (field === 'id') event.id = value;
        else if (field === 'data') data.push(value);
      }
      event.data = data.join('\n');
      events.push(event);
      // Leaving the loop cancels the body, which closes the connection.
      if (options.until?.(events)) return { status: 200, events, ended: false };
    }
  }
  return { status: 200, events, ended: true };
}
