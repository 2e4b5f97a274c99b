import { compareHlc, formatHlc, type Hlc, type RecordData } from '@highwater/core';

/** One change a device made durably: acknowledged to its writer, or found stored after a crash. */
export interface KnownChange {
  readonly model: string;
  readonly id: string;
  /** The writing device (owner of a device-owned record, origin of a shared change). */
  readonly owner: string;
  readonly hlc: Hlc;
  readonly op: 'upsert' | 'delete';
  readonly data: RecordData | null;
}

/** What a record should be once everything has arrived: the change with the highest HLC wins. */
export interface ExpectedRecord {
  readonly owner: string;
  readonly hlc: Hlc;
  readonly data: RecordData;
}

const key = (model: string, id: string): string => `${model}\u0000${id}`;

/**
 * The simulation's ground truth: every durable change, whoever made it. Last writer by HLC wins
 * per record, for device-owned and shared models alike (only an owner writes its records).
 */
export class Oracle {
  private readonly byRecord = new Map<string, KnownChange[]>();
  private readonly ids = new Map<string, Set<string>>();
  /** Highest HLC of each (owner, model) stream. */
  private readonly heads = new Map<string, Hlc>();
  changes = 0;

  add(change: KnownChange): void {
    const k = key(change.model, change.id);
    let list = this.byRecord.get(k);
    if (!list) {
      this.byRecord.set(k, (list = []));
      let ids = this.ids.get(change.model);
      if (!ids) this.ids.set(change.model, (ids = new Set()));
      ids.add(change.id);
    }
    if (list.some((c) => compareHlc(c.hlc, change.hlc) === 0)) return;
    list.push(change);
    list.sort((a, b) => compareHlc(a.hlc, b.hlc));
    this.changes++;
    const stream = `${change.owner}\u0000${change.model}`;
    const head = this.heads.get(stream);
    if (!head || compareHlc(change.hlc, head) > 0) this.heads.set(stream, change.hlc);
  }

  /** Every id of `model` ever written (alive or deleted): what new records may reference. */
  idsOf(model: string): string[] {
    return [...(this.ids.get(model) ?? [])];
  }

  /** Changes of one record in HLC order. */
  changesOf(model: string, id: string): readonly KnownChange[] {
    return this.byRecord.get(key(model, id)) ?? [];
  }

  /** The winning change of a record, if it was ever written. */
  winner(model: string, id: string): KnownChange | undefined {
    return this.byRecord.get(key(model, id))?.at(-1);
  }

  /** Records of `model` whose winning change is an upsert by `owner` (what it may update or delete). */
  aliveOwnedBy(model: string, owner: string): string[] {
    return this.idsOf(model).filter((id) => {
      const w = this.winner(model, id);
      return w !== undefined && w.op === 'upsert' && w.owner === owner;
    });
  }

  /** What every peer must hold of `model` once converged. */
  expected(model: string): Map<string, ExpectedRecord> {
    const out = new Map<string, ExpectedRecord>();
    for (const id of this.idsOf(model)) {
      const w = this.winner(model, id)!;
      if (w.op === 'upsert') out.set(id, { owner: w.owner, hlc: w.hlc, data: w.data ?? {} });
    }
    return out;
  }

  /** The highest HLC of every (owner, model) stream: where converged watermarks must stand. */
  streamHeads(): { owner: string; model: string; hlc: Hlc }[] {
    return [...this.heads].map(([k, hlc]) => {
      const [owner, model] = k.split('\u0000') as [string, string];
      return { owner, model, hlc };
    });
  }
}

export function hlcText(h: Hlc | null | undefined): string {
  return h ? formatHlc(h) : 'nothing';
}
