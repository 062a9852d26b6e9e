import { BlockList, isIP } from 'node:net';

/** One entry of an IP allowlist: an address, or a CIDR range (`10.0.0.0/8`, `2001:db8::/32`). */
export interface IpRange {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

const PREFIX = /^\d{1,3}$/;

/** Parses `address` or `address/prefix`; undefined when the entry is neither. */
export function parseIpRange(entry: string): IpRange | undefined {
  const [address, prefixText, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const longest = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !PREFIX.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? longest : Number(prefixText);
  if (prefix > longest) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * A matcher for client IPs, built once. node's BlockList matches IPv4 entries against IPv4-mapped
 * IPv6 clients (`::ffff:127.0.0.1`, what a dual-stack listener reports) and the reverse.
 */
export function createIpAllowlist(entries: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const range = parseIpRange(entry);
    if (!range) throw new Error(`not an IP address or CIDR range: ${entry}`);
    list.addSubnet(range.address, range.prefix, range.family);
  }
  return (ip) => {
    const version = isIP(ip);
    return version !== 0 && list.check(ip, version === 4 ? 'ipv4' : 'ipv6');
  };
}
