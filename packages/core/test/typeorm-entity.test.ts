import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import {
  Column,
  CreateDateColumn,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  VersionColumn,
} from 'typeorm';
import { ModelDefinitionError } from '@highwater/core';
import { ModelRegistry } from '@highwater/core';
import { modelFromEntity, Syncable } from '@highwater/core';

/** Columns every record table of this app has; inherited by the entities below. */
abstract class Stamped {
  @Column('bigint')
  updatedAtMs!: number;
}

@Entity('volumes')
@Syncable({ name: 'volume', ownership: 'device' })
class Volume extends Stamped {
  @PrimaryColumn()
  uuid!: string;

  @Column()
  label!: string;

  @Column({ type: 'real', nullable: true })
  capacityGb!: number | null;
}

@Entity()
@Syncable({ name: 'location', ownership: 'device', references: { volumeUuid: 'volume' } })
class Location extends Stamped {
  @PrimaryColumn('uuid')
  uuid!: string;

  @Column('varchar', { length: 1024 })
  path!: string;

  @Column()
  volumeUuid!: string;

  @ManyToOne(() => Volume)
  @JoinColumn({ name: 'volumeUuid' })
  volume?: Volume;

  @Column()
  online!: boolean;

  @Column()
  scanCount!: number;

  @Column('simple-json')
  settings!: { depth: number };

  @Column('int', { nullable: true })
  lastScanMs!: number | null;
}

@Entity('tags')
@Syncable({ name: 'tag', ownership: 'shared', references: { parentId: 'tag' }, dependencies: ['location'] })
class Tag {
  @PrimaryColumn('text')
  id!: string;

  @Column('text', { nullable: true })
  parentId!: string | null;

  @Column('jsonb')
  style!: Record<string, unknown>;

  @Column()
  extra!: Record<string, unknown>;

  @VersionColumn()
  version!: number;
}

function definitionError(fn: () => unknown): ModelDefinitionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelDefinitionError);
    expect((error as ModelDefinitionError).code).toBe('HW_MODEL_DEFINITION');
    return error as ModelDefinitionError;
  }
  throw new Error('expected a ModelDefinitionError');
}

describe('modelFromEntity', () => {
  it('reads table, key, field types, nullability and inherited columns', () => {
    expect(modelFromEntity(Volume)).toEqual({
      name: 'volume',
      ownership: 'device',
      key: 'uuid',
      table: 'volumes',
      fields: {
        updatedAtMs: { type: 'integer' },
        label: { type: 'text' },
        capacityGb: { type: 'real', nullable: true },
      },
    });
    expect(modelFromEntity(Location)).toEqual({
      name: 'location',
      ownership: 'device',
      key: 'uuid',
      table: 'location', // @Entity() without a name: the Syncable name
      fields: {
        updatedAtMs: { type: 'integer' },
        path: { type: 'text' },
        volumeUuid: { type: 'text', references: 'volume' },
        online: { type: 'boolean' },
        scanCount: { type: 'real' }, // reflected Number
        settings: { type: 'json' },
        lastScanMs: { type: 'integer', nullable: true },
      },
    });
    expect(modelFromEntity(Tag)).toEqual({
      name: 'tag',
      ownership: 'shared',
      key: 'id',
      table: 'tags',
      dependencies: ['location'],
      fields: {
        parentId: { type: 'text', nullable: true, references: 'tag' },
        style: { type: 'json' },
        extra: { type: 'json' }, // reflected Object
        version: { type: 'integer' },
      },
    });
  });

  it('feeds a ModelRegistry with the right sync order', () => {
    const registry = new ModelRegistry([Tag, Location, Volume].map(modelFromEntity));
    expect(registry.syncOrder()).toEqual(['volume', 'location', 'tag']);
    expect(registry.get('tag').selfReferencing).toBe(true);
    expect(registry.get('tag').dependencies).toEqual(['location']);
    expect(registry.get('location').dependencies).toEqual(['volume']);
    expect(registry.deviceOwned().map((m) => m.table)).toEqual(['volumes', 'location']);
    expect(
      registry.validateData('volume', 'v1', { updatedAtMs: 5, label: 'disk' }),
    ).toEqual({ updatedAtMs: 5, label: 'disk', capacityGb: null });
  });

  it('rejects a date column', () => {
    @Entity()
    @Syncable({ name: 'dated', ownership: 'device' })
    class Dated {
      @PrimaryColumn()
      id!: string;

      @Column()
      when!: Date;
    }
    expect(definitionError(() => modelFromEntity(Dated)).message).toMatch(/"when".*integer milliseconds.*ISO/);

    @Entity()
    @Syncable({ name: 'created', ownership: 'device' })
    class Created {
      @PrimaryColumn()
      id!: string;

      @CreateDateColumn()
      createdAt!: Date;
    }
    expect(definitionError(() => modelFromEntity(Created)).message).toMatch(/"createdAt".*date/);

    @Entity()
    @Syncable({ name: 'stamped', ownership: 'device' })
    class Stamp {
      @PrimaryColumn()
      id!: string;

      @Column('timestamp')
      at!: string;
    }
    expect(definitionError(() => modelFromEntity(Stamp)).message).toMatch(/"at".*date/);
  });

  it('rejects a class without @Syncable', () => {
    @Entity()
    class Plain {
      @PrimaryColumn()
      id!: string;
    }
    expect(definitionError(() => modelFromEntity(Plain)).message).toMatch(/Plain is not Syncable/);

    // @Syncable is not inherited: a subclass is a different model.
    @Entity()
    class SubVolume extends Volume {}
    expect(definitionError(() => modelFromEntity(SubVolume)).message).toMatch(/SubVolume is not Syncable/);
  });

  it('needs exactly one string primary column', () => {
    @Syncable({ name: 'nokey', ownership: 'device' })
    class NoKey {
      @Column()
      name!: string;
    }
    expect(definitionError(() => modelFromEntity(NoKey)).message).toMatch(/no primary column/);

    @Syncable({ name: 'twokeys', ownership: 'device' })
    class TwoKeys {
      @PrimaryColumn()
      a!: string;

      @PrimaryColumn()
      b!: string;
    }
    expect(definitionError(() => modelFromEntity(TwoKeys)).message).toMatch(/more than one primary column/);

    @Syncable({ name: 'numkey', ownership: 'device' })
    class NumKey {
      @PrimaryGeneratedColumn()
      id!: number;
    }
    expect(definitionError(() => modelFromEntity(NumKey)).message).toMatch(/keys are strings/);
  });

  it('rejects what would silently not sync', () => {
    @Syncable({ name: 'renamed', ownership: 'device' })
    class Renamed {
      @PrimaryColumn()
      id!: string;

      @Column({ name: 'display_name' })
      displayName!: string;
    }
    expect(definitionError(() => modelFromEntity(Renamed)).message).toMatch(/renamed to "display_name"/);

    @Syncable({ name: 'hidden_fk', ownership: 'device' })
    class HiddenFk {
      @PrimaryColumn()
      id!: string;

      @ManyToOne(() => Volume)
      volume?: Volume;
    }
    expect(definitionError(() => modelFromEntity(HiddenFk)).message).toMatch(/relation "volume".*@JoinColumn/);

    @Syncable({ name: 'badref', ownership: 'device', references: { nothere: 'volume' } })
    class BadRef {
      @PrimaryColumn()
      id!: string;
    }
    expect(definitionError(() => modelFromEntity(BadRef)).message).toMatch(/"nothere", which is not a column/);

    @Syncable({ name: 'arr', ownership: 'device' })
    class Arr {
      @PrimaryColumn()
      id!: string;

      @Column('simple-array')
      tags!: string[];
    }
    expect(definitionError(() => modelFromEntity(Arr)).message).toMatch(/unsupported type "simple-array"/);
  });
});
