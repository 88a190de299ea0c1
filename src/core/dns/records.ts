/**
 * The DNS records and answers weft's DNS server computes, as plain data. Their shape is the one
 * npm's dns-packet encodes (`{ name, type, ttl, data }`, data per type), so the server's adapter
 * hands them to the codec as they are; the core itself never imports the codec (it is pure, and
 * dns-packet works on Buffers).
 *
 * Names are written without the trailing dot, as dns-packet writes and reads them.
 */

export type RecordType = 'A' | 'AAAA' | 'CNAME' | 'SRV' | 'PTR' | 'TXT' | 'SOA' | 'NS' | 'HINFO';

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export type DnsRecord =
  | { name: string; type: 'A' | 'AAAA' | 'CNAME' | 'PTR' | 'NS'; ttl: number; data: string }
  | { name: string; type: 'SRV'; ttl: number; data: SrvData }
  | { name: string; type: 'TXT'; ttl: number; data: string[] }
  | { name: string; type: 'SOA'; ttl: number; data: SoaData }
  | { name: string; type: 'HINFO'; ttl: number; data: { cpu: string; os: string } };

/** The response codes weft sends (RFC 1035 §4.1.1, RFC 6895). */
export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

/** An answer from the cluster zone: the sections of the response, and whether weft is authoritative. */
export interface DnsAnswer {
  rcode: Rcode;
  /** Set for names in the cluster zone (the AA bit), as CoreDNS sets it for its kubernetes zone. */
  authoritative: boolean;
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

export interface DnsQuestion {
  name: string;
  /** The query type's mnemonic as dns-packet decodes it ("A", "SRV", "ANY", "TYPE65534", …). */
  type: string;
  class: string;
}
