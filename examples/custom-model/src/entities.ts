/**
 * The application's own TypeORM entities, declared Syncable. `modelFromEntity` turns each into
 * a Highwater model: the primary column is the key, every other column a field, and
 * `references` names the fields that point at another model's key.
 */
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Syncable } from '@highwater/core';

/** A notebook belongs to the device that created it: only that device writes it. */
@Entity()
@Syncable({ name: 'notebook', ownership: 'device' })
export class Notebook {
  @PrimaryColumn('text')
  id!: string;

  @Column('text')
  title!: string;
}

/** Labels are shared: any device creates or renames them; the last writer (by HLC) wins. */
@Entity()
@Syncable({ name: 'label', ownership: 'shared' })
export class Label {
  @PrimaryColumn('text')
  id!: string;

  @Column('text')
  name!: string;
}

/**
 * A note lives in a notebook and may carry a label. A device that receives a note before its
 * notebook (or label) keeps it waiting, and applies it once that record arrives.
 */
@Entity()
@Syncable({ name: 'note', ownership: 'device', references: { notebookId: 'notebook', labelId: 'label' } })
export class Note {
  @PrimaryColumn('text')
  id!: string;

  // The foreign key is a declared column (so it syncs), named in @JoinColumn and in `references`.
  @Column('text')
  notebookId!: string;

  @ManyToOne(() => Notebook)
  @JoinColumn({ name: 'notebookId' })
  notebook?: Notebook;

  // A nullable column needs its type spelled out: `string | null` reflects as Object (json).
  @Column('text', { nullable: true })
  labelId!: string | null;

  @Column('text')
  text!: string;

  @Column('boolean')
  pinned!: boolean;

  // Times as integer milliseconds: date columns are refused, they do not round-trip alike everywhere.
  @Column('bigint')
  editedAtMs!: number;
}
