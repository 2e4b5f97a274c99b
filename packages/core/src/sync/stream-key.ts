/** Map key of one (owner, resource) stream: watermarks, parking, pull planning, exchanges. */
export const streamKey = (owner: string, resource: string): string => `${owner}\u0000${resource}`;
