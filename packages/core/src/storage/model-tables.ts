import type { RegisteredModel } from '../models/model-definition.js';
import type { ModelRegistry } from '../models/model-registry.js';

/**
 * One value per registered model (an adapter's table of it, a row layout), built once and
 * looked up by model name; an unregistered name throws `UnknownModelError`.
 */
export class ModelTables<T> {
  private readonly byName: ReadonlyMap<string, T>;

  constructor(
    private readonly registry: ModelRegistry,
    build: (model: RegisteredModel) => T,
  ) {
    this.byName = new Map(registry.all().map((model) => [model.name, build(model)]));
  }

  /** The value of `model`; throws `UnknownModelError` if it is not registered. */
  get(model: string): T {
    const table = this.byName.get(model);
    if (table === undefined) this.registry.get(model); // throws UnknownModelError
    return table!;
  }
}
