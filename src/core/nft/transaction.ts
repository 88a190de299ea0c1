/**
 * An nftables transaction as plain data, rendered to the text `nft -f -` reads.
 *
 * The older, text-rule form: rules and element keys are strings. New code uses the typed model
 * (./model.ts, ./tx.ts, ./render.ts); this stays only until the policy table moves onto it.
 *
 * As in knftables: the caller builds a list of operations on typed objects, nothing touches the
 * kernel until the adapter runs the rendered text, and `nft -f` applies the whole text atomically
 * (all or nothing), so a failed change never leaves a half-applied ruleset.
 *
 * Verbs keep nft's meaning: `add` creates or leaves an existing object alone, `create` fails if it
 * exists, `delete` fails if it is missing, `flush` empties a chain or set.
 */

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'bridge' | 'netdev' | 'arp';

export interface NftTable {
  kind: 'table';
  family: NftFamily;
  name: string;
  comment?: string;
}

export interface NftChain {
  kind: 'chain';
  family: NftFamily;
  table: string;
  name: string;
  /** Base chains only: the chain type, hook and priority (a number or a name like "dstnat"). */
  base?: { type: 'filter' | 'nat' | 'route'; hook: string; priority: string | number; policy?: 'accept' | 'drop' };
  comment?: string;
}

export interface NftSet {
  kind: 'set' | 'map';
  family: NftFamily;
  table: string;
  name: string;
  /** Key type, e.g. "ipv4_addr" or "ipv4_addr . inet_proto . inet_service". */
  type: string;
  /** Maps only: the value type, e.g. "verdict" or "ipv4_addr . inet_service". */
  valueType?: string;
  flags?: string[];
  comment?: string;
}

export interface NftRule {
  kind: 'rule';
  family: NftFamily;
  table: string;
  chain: string;
  /** The rule's statement text, e.g. `ip saddr @pods accept`. */
  rule: string;
  comment?: string;
}

export interface NftElement {
  kind: 'element';
  family: NftFamily;
  table: string;
  set: string;
  /** The element key, rendered as written (for maps, either ` : value` here or `value` below). */
  key: string;
  /**
   * Maps only: the element's value. When given, the comment is rendered between key and value
   * (`key comment "c" : value`), the only place nft's grammar accepts a map element's comment.
   * `delete` renders the key alone, as nft identifies an element by its key.
   */
  value?: string;
  comment?: string;
}

export type NftObject = NftTable | NftChain | NftSet | NftRule | NftElement;
export type NftVerb = 'add' | 'create' | 'delete' | 'flush';

export interface NftOperation {
  verb: NftVerb;
  object: NftObject;
}

/** Text that can be embedded in double quotes in an nft script. */
export function quote(text: string): string {
  if (/["\n\\]/.test(text)) throw new Error(`nft: string ${JSON.stringify(text)} cannot be quoted`);
  return `"${text}"`;
}

function commentPart(comment: string | undefined): string {
  return comment ? ` comment ${quote(comment)}` : '';
}

function renderObject(verb: NftVerb, o: NftObject): string {
  switch (o.kind) {
    case 'table':
      if (verb === 'add' || verb === 'create')
        return `${verb} table ${o.family} ${o.name}${o.comment ? ` { comment ${quote(o.comment)}; }` : ''}`;
      return `${verb} table ${o.family} ${o.name}`;
    case 'chain': {
      const head = `${verb} chain ${o.family} ${o.table} ${o.name}`;
      if ((verb === 'add' || verb === 'create') && (o.base || o.comment)) {
        const parts: string[] = [];
        if (o.base) {
          parts.push(`type ${o.base.type} hook ${o.base.hook} priority ${o.base.priority};`);
          if (o.base.policy) parts.push(`policy ${o.base.policy};`);
        }
        if (o.comment) parts.push(`comment ${quote(o.comment)};`);
        return `${head} { ${parts.join(' ')} }`;
      }
      return head;
    }
    case 'set':
    case 'map': {
      const head = `${verb} ${o.kind} ${o.family} ${o.table} ${o.name}`;
      if (verb === 'add' || verb === 'create') {
        const type = o.kind === 'map' ? `type ${o.type} : ${o.valueType ?? 'verdict'};` : `type ${o.type};`;
        const flags = o.flags && o.flags.length > 0 ? ` flags ${o.flags.join(', ')};` : '';
        return `${head} { ${type}${flags}${o.comment ? ` comment ${quote(o.comment)};` : ''} }`;
      }
      return head;
    }
    case 'rule':
      if (verb !== 'add') throw new Error(`nft: rules can only be added by this renderer (got ${verb})`);
      return `add rule ${o.family} ${o.table} ${o.chain} ${o.rule}${commentPart(o.comment)}`;
    case 'element':
      if (verb === 'flush') throw new Error('nft: cannot flush an element');
      if (verb === 'delete') return `delete element ${o.family} ${o.table} ${o.set} { ${o.key} }`;
      return `${verb} element ${o.family} ${o.table} ${o.set} { ${o.key}${commentPart(o.comment)}${o.value !== undefined ? ` : ${o.value}` : ''} }`;
  }
}

export class NftTransaction {
  readonly operations: NftOperation[] = [];

  add(object: NftObject): this {
    this.operations.push({ verb: 'add', object });
    return this;
  }

  create(object: NftObject): this {
    this.operations.push({ verb: 'create', object });
    return this;
  }

  delete(object: NftObject): this {
    this.operations.push({ verb: 'delete', object });
    return this;
  }

  flush(object: NftChain | NftSet): this {
    this.operations.push({ verb: 'flush', object });
    return this;
  }

  get empty(): boolean {
    return this.operations.length === 0;
  }

  render(): string {
    return this.operations.map((op) => renderObject(op.verb, op.object)).join('\n') + '\n';
  }
}
