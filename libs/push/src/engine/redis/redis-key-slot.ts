/** Number of hash slots of Redis Cluster. */
export const REDIS_CLUSTER_SLOTS = 16384;

/** CRC16-CCITT (XMODEM) table, the checksum Redis Cluster hashes keys with. */
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/**
 * The hash slot of a key or channel, as Redis Cluster computes it (`CLUSTER KEYSLOT`): CRC16 of the UTF-8 bytes
 * mod 16384, over only the part between the first `{` and the next `}` when that part is not empty (the hash tag).
 * Our own copy: `cluster-key-slot` is only a dependency of ioredis, and strict installs (pnpm) do not let us
 * resolve it.
 */
export function redisKeySlot(key: string): number {
  let bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff];
  return crc % REDIS_CLUSTER_SLOTS;
}
