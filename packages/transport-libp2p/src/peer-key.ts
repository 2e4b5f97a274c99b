import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { Libp2pTransportConfigError } from './errors.js';

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

function decodeKey(bytes: Uint8Array, keyPath: string): PrivateKey {
  try {
    return privateKeyFromProtobuf(bytes);
  } catch (cause) {
    throw new Libp2pTransportConfigError(
      'HW_KEY_FILE',
      `Key file ${keyPath} does not hold a libp2p private key (protobuf): restore it from a backup, or delete it to ` +
        'generate a new identity (the other members must then be given the new peer id)',
      { cause },
    );
  }
}

/**
 * Writes a new key without ever exposing a partial file under `keyPath`: the bytes go to a
 * private temporary file first, which is then hard-linked into place. `link` fails if the
 * path exists, so two processes racing to create the key agree on one of them.
 */
async function writeKeyFile(keyPath: string, bytes: Uint8Array): Promise<'written' | 'exists'> {
  await mkdir(dirname(keyPath), { recursive: true, mode: 0o700 });
  const temporary = `${keyPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, keyPath);
    return 'written';
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return 'exists';
    throw error;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/**
 * Reads the node's private key from `keyPath`, or creates an Ed25519 key there (mode 0600,
 * parent directories 0700) if the file does not exist. The key is the node's identity: keep
 * the file across restarts and out of backups you share.
 */
export async function loadOrCreatePrivateKey(keyPath: string): Promise<PrivateKey> {
  if (typeof keyPath !== 'string' || keyPath.length === 0) {
    throw new Libp2pTransportConfigError('HW_TRANSPORT_CONFIG', 'keyPath must name the file that holds (or will hold) the node key');
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return decodeKey(await readFile(keyPath), keyPath);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') {
        if (error instanceof Libp2pTransportConfigError) throw error;
        throw new Libp2pTransportConfigError('HW_KEY_FILE', `Cannot read key file ${keyPath}: ${(error as Error).message}`, { cause: error });
      }
    }
    const key = await generateKeyPair('Ed25519');
    try {
      if ((await writeKeyFile(keyPath, privateKeyToProtobuf(key))) === 'written') return key;
    } catch (error) {
      throw new Libp2pTransportConfigError('HW_KEY_FILE', `Cannot create key file ${keyPath}: ${(error as Error).message}`, { cause: error });
    }
    // Another process created the file meanwhile: use its key, so both agree on one identity.
  }
  throw new Libp2pTransportConfigError('HW_KEY_FILE', `Key file ${keyPath} appeared and vanished while it was being created`);
}

/**
 * The peer id of the key at `keyPath`, creating the key if needed. Give it to the other members
 * of the library (their `members` option) before this node starts.
 */
export async function loadOrCreatePeerId(keyPath: string): Promise<string> {
  return peerIdFromPrivateKey(await loadOrCreatePrivateKey(keyPath)).toString();
}
