import { randomFillSync } from 'node:crypto';

const HEX = Buffer.from('0123456789abcdef');
/** Random bytes for many IDs at a time: one fill per 1,024 IDs rather than one per ID. */
const random = Buffer.alloc(10 * 1_024);
let randomOffset = random.length;
/** The ASCII of the ID being built; the dashes stay where they are. */
const text = Buffer.from('00000000-0000-7000-8000-000000000000');
/** Where each hex digit of the 32 goes in `text`. */
const DIGIT_AT = [...text.keys()].filter((i) => text[i] !== 0x2d);

/**
 * A generated workflow ID: a UUIDv7 (RFC 9562), whose first 48 bits are the Unix time in
 * milliseconds and the rest random (74 bits, besides the version and variant). Time-ordered IDs
 * keep the rows of recent workflows together in every index keyed by workflow ID (the workflow and
 * step primary keys): inserts land on the few newest leaf pages instead of random ones across the
 * whole index, which stays cheap as the tables grow. Built in one reused buffer: this runs for
 * every start and enqueue.
 */
export function newWorkflowId(now = Date.now()): string {
  if (randomOffset + 10 > random.length) {
    randomFillSync(random);
    randomOffset = 0;
  }
  let time = now;
  for (let digit = 11; digit >= 0; digit--) {
    text[DIGIT_AT[digit] as number] = HEX[time % 16] as number;
    time = Math.floor(time / 16);
  }
  // Digit 12 is the version (7). Digits 13–31 are random nibbles, except digit 16, which holds
  // the variant (binary 10) and two random bits.
  const r = randomOffset;
  randomOffset += 10;
  for (let digit = 13; digit < 32; digit++) {
    const byte = random[r + ((digit - 13) >> 1)] as number;
    const nibble = (digit - 13) % 2 === 0 ? byte >> 4 : byte & 15;
    text[DIGIT_AT[digit] as number] = HEX[digit === 16 ? 8 | ((random[r + 9] as number) & 3) : nibble] as number;
  }
  return text.toString('latin1');
}
