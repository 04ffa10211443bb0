import { createHash } from 'node:crypto'
import type pg from 'pg'

/** A step of the schema: applied once, in `version` order, recorded in the schema's `migrations` table. */
export interface Migration {
  version: number
  name: string
  /** The statements, given the quoted schema name. */
  sql: (schema: string) => string
}

/**
 * The schema's history. Append new steps at the end; never edit one that shipped.
 *
 * Timestamps are `text`: they are stored and returned exactly as the ISO strings the chat wrote. Ids compare
 * under `COLLATE "C"` (byte order), the order `newId()` sorts in, whatever the database's collation is.
 */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'conversations, participants, messages, audit',
    sql: (s) => `
CREATE TABLE ${s}.conversations (
  id text COLLATE "C" PRIMARY KEY,
  title text NOT NULL,
  created_by text NOT NULL,
  created_at text NOT NULL,
  updated_at text NOT NULL,
  last_seq integer NOT NULL,
  metadata jsonb,
  closed_at text
);
CREATE TABLE ${s}.participants (
  conversation_id text COLLATE "C" NOT NULL REFERENCES ${s}.conversations (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  position bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL,
  type text NOT NULL,
  role text NOT NULL,
  joined_at text NOT NULL,
  PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX participants_by_user ON ${s}.participants (user_id, conversation_id);
CREATE TABLE ${s}.messages (
  conversation_id text COLLATE "C" NOT NULL REFERENCES ${s}.conversations (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  id text NOT NULL,
  kind text NOT NULL,
  sender_id text NOT NULL,
  sender jsonb NOT NULL,
  content text NOT NULL,
  parts jsonb,
  status text,
  reply_to integer,
  client_message_id text,
  created_at text NOT NULL,
  metadata jsonb,
  PRIMARY KEY (conversation_id, seq)
);
-- Not partial (NULLs never conflict anyway): every lookup by client id matches the whole index key.
CREATE UNIQUE INDEX messages_by_client_id ON ${s}.messages (conversation_id, sender_id, client_message_id);
CREATE INDEX messages_by_id ON ${s}.messages (id);
CREATE TABLE ${s}.audit (
  id text COLLATE "C" PRIMARY KEY,
  at text NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text,
  details jsonb
);`
  },
  {
    version: 2,
    name: 'index of streaming AI answers',
    // Partial: only answers still streaming are in it, so the sweep for dead writers' answers reads a few rows.
    sql: (s) => `
CREATE INDEX messages_streaming_answers ON ${s}.messages (created_at) WHERE kind = 'ai' AND status = 'streaming';`
  },
  {
    version: 3,
    name: 'full-text search of message content',
    /*
     * A stored generated column rather than an expression index: the search reads each candidate's vector
     * to rank it (ts_rank) and, in a conversation where a word is common, checks `@@` on the conversation's
     * rows by primary key: both without parsing the text again. The GIN index serves rare words. The 'simple'
     * configuration lowercases and keeps every word (no stemming, no stop words): the chat's messages are in
     * any language. Text past the first 200,000 characters is not indexed (a tsvector holds at most 1 MB of
     * words: a longer message would fail to store). Adding the column rewrites the messages table once.
     */
    sql: (s) => `
ALTER TABLE ${s}.messages ADD COLUMN content_search tsvector
  GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, left(content, 200000))) STORED;
CREATE INDEX messages_content_search ON ${s}.messages USING gin (content_search);`
  },
  {
    version: 4,
    name: 'full-text search: the words of addresses, paths and version numbers',
    /*
     * Migration 3's default parser kept `example.com`, `bob@example.com`, `/usr/bin/env` and `1.2.3` as single
     * tokens, so their words were not found. The words are now split as search-query.ts splits them:
     * `searchText` (below; the query side reads the query's words with it too) turns ASCII punctuation into spaces, lowercases as the query side does,
     * and the parser splits the rest. Re-adding the column rewrites the messages table once.
     */
    sql: (s) => `
ALTER TABLE ${s}.messages DROP COLUMN content_search;
ALTER TABLE ${s}.messages ADD COLUMN content_search tsvector
  GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, ${searchText('left(content, 200000)')})) STORED;
CREATE INDEX messages_content_search ON ${s}.messages USING gin (content_search);`
  }
]

/**
 * The text of `expr` as PostgreSQL indexes and queries it, for words as search-query.ts's `searchWords` finds
 * them: NFC, `İ` lowercased as JavaScript does (`i` and a combining dot: PostgreSQL's `lower` drops the dot),
 * lowercased, final sigma folded into sigma, every ASCII character but letters and digits a space (the parser
 * then finds no addresses, paths, numbers with dots or hyphenated compounds, only words; other scripts' spaces
 * and punctuation it takes as separators itself). Immutable: usable in a generated column. Migration 4 indexes
 * with it: a change to it needs a migration that re-adds the column.
 */
export function searchText (expr: string): string {
  return `regexp_replace(translate(lower(replace(normalize(${expr}, NFC), U&'\\0130', U&'i\\0307')), U&'\\03C2', U&'\\03C3'), '[\\x01-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7F]+', ' ', 'g')`
}

/** `"name"` with inner quotes doubled: safe in SQL whatever the name holds. */
export function quoteIdent (name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** Two int4 keys for `pg_advisory_xact_lock`, the same in every process for one schema name. */
function lockKeys (schema: string): [number, number] {
  const digest = createHash('sha256').update(`fastify-nlweb-chat:migrate:${schema}`).digest()
  return [digest.readInt32BE(0), digest.readInt32BE(4)]
}

/**
 * Creates the schema if missing and applies the migrations it has not seen, in order, in one transaction.
 * A transaction-scoped advisory lock per schema makes instances starting at once take turns: the first
 * migrates, the others then find nothing left to do. DDL is transactional here, so a failed step leaves
 * nothing half-applied.
 */
export async function migrate (pool: pg.Pool, schema: string, migrations: Migration[] = MIGRATIONS): Promise<number[]> {
  const s = quoteIdent(schema)
  const client = await pool.connect()
  const onError = (): void => {} // a connection lost mid-migration fails the pending query; no crash
  client.on('error', onError)
  let failed: Error | undefined
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', lockKeys(schema))
    // CREATE SCHEMA checks the CREATE privilege even when the schema exists: look first, so a role that may
    // only use an existing schema still starts.
    const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
    if (found.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`)
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    const done = new Set((await client.query<{ version: number }>(`SELECT version FROM ${s}.migrations`)).rows.map((r) => r.version))
    const applied: number[] = []
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue
      await client.query(m.sql(s))
      await client.query(`INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)`, [m.version, m.name])
      applied.push(m.version)
    }
    await client.query('COMMIT')
    return applied
  } catch (err) {
    failed = err as Error
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.off('error', onError)
    client.release(failed)
  }
}
