/**
 * The text of a batch place, a change's `sig` when its owner signed it in a batch:
 * `<batch id>.<index>.<size>`, with `.<proof>` after it on the one change of each batch in a
 * message that carries the batch's proof (see ChangeSignatures). Read by the codec (`"+"` rows)
 * and by ChangeSignatures alike.
 */

/** Characters of a batch id, the start of a batch place: the start of the batch proof's signature, unique per owner. */
export const BATCH_ID_LENGTH = 16;

const DOT = 46;

/** Reads a batch place into its fields without allocating (every row of a page is read; bench "relayed"). */
export class PlaceScan {
  index = 0;
  size = 0;
  /** Where the place ends: the sig's length, or the `.` before the proof. */
  end = 0;

  /**
   * Whether `sig` has the shape of a batch place (a change's own signature, 86 characters, has
   * not); if so, its index, size and end are read into this. Digits are not checked for leading
   * zeros or range: the wire schema's pattern and ChangeSignatures do that.
   */
  read(sig: string): boolean {
    if (sig.length === 86 || sig.indexOf('.') !== BATCH_ID_LENGTH) return false;
    let at = BATCH_ID_LENGTH + 1;
    let index = 0;
    for (let ch = sig.charCodeAt(at); ch >= 48 && ch <= 57; ch = sig.charCodeAt(++at)) index = index * 10 + ch - 48;
    if (at === BATCH_ID_LENGTH + 1 || sig.charCodeAt(at) !== DOT) return false;
    const sizeAt = ++at;
    let size = 0;
    for (let ch = sig.charCodeAt(at); ch >= 48 && ch <= 57; ch = sig.charCodeAt(++at)) size = size * 10 + ch - 48;
    if (at === sizeAt || (at < sig.length && sig.charCodeAt(at) !== DOT)) return false;
    this.index = index;
    this.size = size;
    this.end = at;
    return true;
  }
}
