/**
 * The character vocabulary: index 0 is the boundary token that starts and ends
 * every example ('.' in the lectures), the other characters follow in sorted order.
 *
 * @module
 */
import { DataError } from "./lines";

/** Serializable form of a {@link Vocab}, as stored in checkpoints. */
export interface VocabJSON {
  /** boundary token first, then the characters in index order */
  chars: string[];
}

/** Character-level vocabulary with the boundary token at index 0. */
export class Vocab {
  /** index to character (itos): `chars[0]` is the boundary token. */
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;

  /**
   * @param chars - the boundary token followed by every other character, no repeats.
   * @throws DataError when a character repeats or one is not a single character.
   */
  constructor(chars: readonly string[]) {
    if (chars.length < 1) throw new DataError("a vocabulary needs at least the boundary token");
    this.index = new Map();
    chars.forEach((ch, i) => {
      if (Array.from(ch).length !== 1)
        throw new DataError(`vocabulary entry ${JSON.stringify(ch)} is not one character`);
      if (this.index.has(ch)) throw new DataError(`vocabulary entry ${JSON.stringify(ch)} repeats`);
      this.index.set(ch, i);
    });
    this.chars = [...chars];
  }

  /**
   * Builds the vocabulary of a dataset: the boundary token, then every character
   * that occurs, sorted by code point (the lectures' `sorted(set(...))`).
   *
   * @param words - the examples.
   * @param boundary - the boundary token; by default '.', or '\n' when the data
   *   itself contains '.' (a line never contains a newline).
   * @throws DataError when the data contains the boundary token given.
   */
  static fromWords(words: readonly string[], boundary?: string): Vocab {
    const seen = new Set<string>();
    for (const w of words) for (const ch of w) seen.add(ch);
    const token = boundary ?? (seen.has(".") ? "\n" : ".");
    if (seen.has(token)) {
      throw new DataError(`the boundary token ${JSON.stringify(token)} occurs in the data; choose another`);
    }
    const sorted = [...seen].sort((a, b) => (a.codePointAt(0) as number) - (b.codePointAt(0) as number));
    return new Vocab([token, ...sorted]);
  }

  /** Rebuilds a vocabulary saved with {@link Vocab.toJSON}. */
  static fromJSON(json: VocabJSON): Vocab {
    if (!json || !Array.isArray(json.chars)) throw new DataError("vocabulary JSON needs a 'chars' array");
    return new Vocab(json.chars);
  }

  /** The boundary token (index 0). */
  get boundary(): string {
    return this.chars[0] as string;
  }

  /** Number of tokens, boundary included (27 for names). */
  get size(): number {
    return this.chars.length;
  }

  /**
   * Index of a character (stoi).
   * @throws DataError for a character outside the vocabulary.
   */
  stoi(ch: string): number {
    const i = this.index.get(ch);
    if (i === undefined) throw new DataError(`character ${JSON.stringify(ch)} is not in the vocabulary`);
    return i;
  }

  /**
   * Character of an index (itos).
   * @throws RangeError for an index outside [0, size).
   */
  itos(i: number): string {
    const ch = this.chars[i];
    if (ch === undefined) throw new RangeError(`token index ${i} is outside the vocabulary of ${this.size}`);
    return ch;
  }

  /** Encodes a string to token indices (no boundary tokens added). */
  encode(s: string): number[] {
    return Array.from(s, (ch) => this.stoi(ch));
  }

  /** Decodes token indices to a string. */
  decode(ix: Iterable<number>): string {
    let s = "";
    for (const i of ix) s += this.itos(i);
    return s;
  }

  /** The form stored in checkpoints. */
  toJSON(): VocabJSON {
    return { chars: [...this.chars] };
  }
}
