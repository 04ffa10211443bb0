import { createHash } from 'node:crypto'
import { quoteIdent, searchText } from './postgres-migrations.ts'

/**
 * A statement. With a name, node-postgres prepares it once per connection, then sends only its parameters;
 * without one (the lookups by client id, see LOOKUPS), the server plans it at each execution for the
 * parameters given.
 */
export interface Statement {
  name?: string
  text: string
}

/**
 * Statements that find a message by client id. A plan cached for them while the messages table was small can
 * keep scanning the conversation by its primary key instead of probing the unique index (both cost the same
 * on a few rows), reading every message of the conversation from then on; planned at each execution, the
 * probe of the unique index wins as soon as the table holds more than a few rows. They serve the rarer paths
 * (repeats, an AI question's transaction, rate-limited resends), so planning each time costs little.
 */
const LOOKUPS = new Set(['appendMessage', 'appendBatch', 'findByClientId'])
/**
 * The search is planned at each execution too: the best plan depends on its words (a rare one: the GIN
 * index; a common one in a large conversation: the conversation's rows by primary key), which one cached
 * plan cannot follow.
 */
const UNPREPARED = new Set([...LOOKUPS, 'searchMessages'])

const MESSAGE_COLUMNS = `conversation_id, seq, id, kind, sender, content, parts, status, reply_to, client_message_id,
  created_at, metadata`
const CONVERSATION_COLUMNS = 'id, title, created_by, created_at, updated_at, last_seq, metadata, closed_at'

/**
 * Every statement the PostgreSQL storage runs, schema-qualified. Names carry a hash of the schema, so
 * storages on different schemas can share one pool (a name is prepared once per connection).
 *
 * Parameters are cast where the server could not infer their type (jsonb, arrays, values in a SELECT list).
 */
export function statements (schema: string) {
  const s = quoteIdent(schema)
  const c = `${s}.conversations`
  const p = `${s}.participants`
  const m = `${s}.messages`
  const a = `${s}.audit`
  const prefix = `nlweb_chat_${createHash('sha256').update(schema).digest('hex').slice(0, 12)}_`
  const named = <K extends string> (texts: Record<K, string>): Record<K, Statement> => {
    const out = {} as Record<K, Statement>
    for (const key of Object.keys(texts) as K[]) out[key] = UNPREPARED.has(key) ? { text: texts[key] } : { name: prefix + key, text: texts[key] }
    return out
  }

  return named({
    ping: 'SELECT 1',

    // The conversation and its first participants in one statement; `position` keeps their order.
    createConversation: `WITH conversation AS (
        INSERT INTO ${c} (${CONVERSATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
      )
      INSERT INTO ${p} (conversation_id, user_id, name, type, role, joined_at)
      SELECT $1, u.id, u.name, u.type, u.role, u.joined_at
      FROM unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) WITH ORDINALITY
        AS u (id, name, type, role, joined_at, n)
      ORDER BY u.n`,
    getConversation: `SELECT ${CONVERSATION_COLUMNS} FROM ${c} WHERE id = $1`,
    updateConversation: `UPDATE ${c} SET title = COALESCE($2, title), metadata = COALESCE($3::jsonb, metadata),
      closed_at = COALESCE($4, closed_at), updated_at = $5 WHERE id = $1 RETURNING ${CONVERSATION_COLUMNS}`,
    // Participants and messages go with it (ON DELETE CASCADE), also those an append racing the delete wrote.
    deleteConversation: `DELETE FROM ${c} WHERE id = $1`,
    listConversations: `SELECT ${CONVERSATION_COLUMNS} FROM ${c} ORDER BY id DESC LIMIT $1`,
    listConversationsBefore: `SELECT ${CONVERSATION_COLUMNS} FROM ${c} WHERE id < $1 ORDER BY id DESC LIMIT $2`,
    listUserConversations: `SELECT c.* FROM ${p} p JOIN ${c} c ON c.id = p.conversation_id
      WHERE p.user_id = $1 ORDER BY p.conversation_id DESC LIMIT $2`,
    listUserConversationsBefore: `SELECT c.* FROM ${p} p JOIN ${c} c ON c.id = p.conversation_id
      WHERE p.user_id = $1 AND p.conversation_id < $2 ORDER BY p.conversation_id DESC LIMIT $3`,
    countConversations: `SELECT count(*)::integer AS n FROM ${c}`,

    getParticipants: `SELECT user_id, name, type, role, joined_at FROM ${p} WHERE conversation_id = $1 ORDER BY position`,
    // addParticipant's first step: the conversation row, locked, so concurrent adds to it take turns.
    lockConversation: `SELECT 1 FROM ${c} WHERE id = $1 FOR NO KEY UPDATE`,
    // Its second step, in the same transaction (a fresh snapshot, taken after the lock): 'exists' before 'full'.
    addParticipant: `WITH present AS (
        SELECT 1 FROM ${p} WHERE conversation_id = $1 AND user_id = $2
      ), added AS (
        INSERT INTO ${p} (conversation_id, user_id, name, type, role, joined_at)
        SELECT $1, $2, $3::text, $4::text, $5::text, $6::text
        WHERE NOT EXISTS (SELECT FROM present) AND (SELECT count(*) FROM ${p} WHERE conversation_id = $1) < $7::integer
        RETURNING 1
      )
      SELECT EXISTS (SELECT FROM present) AS present, EXISTS (SELECT FROM added) AS added`,
    removeParticipant: `DELETE FROM ${p} WHERE conversation_id = $1 AND user_id = $2`,

    /*
     * One round trip per message. `repeat` finds a message this sender already stored with this client id;
     * without one, `bump` takes the conversation's row lock and its next seq, and `stored` inserts with it,
     * all in the statement's transaction: concurrent writers, in any process, queue on the row and get
     * 1, 2, 3... A duplicate that raced past `repeat` (both read before either committed) fails on the
     * unique index and rolls back its bump, so no seq is lost; the caller then reads the first message.
     * One row comes back: `created_seq` when stored, the first message's columns on a repeat, neither when
     * the conversation does not exist.
     */
    appendMessage: `WITH repeat AS (
        SELECT ${MESSAGE_COLUMNS} FROM ${m}
        WHERE $11::text IS NOT NULL AND conversation_id = $1 AND sender_id = $4 AND client_message_id = $11::text
      ), bump AS (
        UPDATE ${c} SET last_seq = last_seq + 1, updated_at = $12::text
        WHERE id = $1 AND NOT EXISTS (SELECT FROM repeat)
        RETURNING last_seq
      ), stored AS (
        INSERT INTO ${m} (conversation_id, seq, id, kind, sender_id, sender, content, parts, status, reply_to,
          client_message_id, created_at, metadata)
        SELECT $1, last_seq, $2::text, $3::text, $4::text, $5::jsonb, $6::text, $7::jsonb, $8::text, $9::integer,
          $11::text, $12::text, $10::jsonb
        FROM bump
        RETURNING seq
      )
      SELECT (SELECT seq FROM stored) AS created_seq, repeat.* FROM (SELECT) AS one LEFT JOIN repeat ON true`,
    /*
     * The append queue's statement: messages for one conversation, none of them a repeat as far as the
     * caller knows, in one round trip and one commit. $2 is a JSON array of the drafts, `n` their order
     * (0, 1, 2...), $3 how many, $4 the last one's createdAt. `bump` takes the conversation's row lock and
     * $3 seqs at once; every draft is inserted with its seq in the same statement, so a seq is never taken
     * without its message. It looks nothing up: the unique index is the dedupe. A client id already stored
     * (or committed meanwhile by a racing writer) fails the whole statement on it, rolling back the bump,
     * and the caller goes through appendBatch instead. One row comes back, the counter after the bump;
     * none when the conversation does not exist.
     */
    appendFresh: `WITH items AS (
        SELECT * FROM jsonb_to_recordset($2::jsonb) AS x (n integer, id text, kind text, sender_id text, sender jsonb,
          content text, parts jsonb, status text, reply_to integer, client_message_id text, created_at text, metadata jsonb)
      ), bump AS (
        UPDATE ${c} SET last_seq = last_seq + $3::integer, updated_at = $4::text WHERE id = $1
        RETURNING last_seq
      ), stored AS (
        INSERT INTO ${m} (conversation_id, seq, id, kind, sender_id, sender, content, parts, status, reply_to,
          client_message_id, created_at, metadata)
        SELECT $1, b.last_seq - $3::integer + i.n + 1, i.id, i.kind, i.sender_id, i.sender, i.content, i.parts,
          i.status, i.reply_to, i.client_message_id, i.created_at, i.metadata
        FROM items i, bump b
      )
      SELECT last_seq FROM bump`,
    /*
     * appendFresh for several conversations in one statement and one commit: $1 their ids, $2 how many
     * messages each, $3 each one's last createdAt; $4 the drafts as JSON, `c` the conversation's id and `n`
     * the draft's order within it (0, 1, 2...). `locked` takes the conversations' row locks in id order
     * before anything is written (a one-time filter of `bump`), so two processes batching overlapping
     * conversations take turns instead of deadlocking. One row comes back per conversation that exists:
     * its id and its counter before the bump.
     */
    appendFreshMany: `WITH locked AS MATERIALIZED (
        SELECT id FROM ${c} WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE
      ), bump AS (
        UPDATE ${c} SET last_seq = last_seq + u.k, updated_at = u.at
        FROM unnest($1::text[], $2::integer[], $3::text[]) AS u (id, k, at)
        WHERE ${c}.id = u.id AND (SELECT count(*) FROM locked) >= 0
        RETURNING ${c}.id, ${c}.last_seq - u.k AS base
      ), stored AS (
        INSERT INTO ${m} (conversation_id, seq, id, kind, sender_id, sender, content, parts, status, reply_to,
          client_message_id, created_at, metadata)
        SELECT b.id, b.base + i.n + 1, i.id, i.kind, i.sender_id, i.sender, i.content, i.parts,
          i.status, i.reply_to, i.client_message_id, i.created_at, i.metadata
        FROM jsonb_to_recordset($4::jsonb) AS i (c text, n integer, id text, kind text, sender_id text, sender jsonb,
          content text, parts jsonb, status text, reply_to integer, client_message_id text, created_at text, metadata jsonb)
        JOIN bump b ON b.id = i.c
      )
      SELECT id, base FROM bump`,
    /*
     * Several messages for one conversation in one statement, when appendFresh found a repeat; the same rules
     * as appendMessage: $2 is a JSON array of the drafts, `n` their order. Repeats of stored client ids take
     * no seq; the others take the next seqs in `n` order, with one bump of the counter. One row comes back:
     * the counter after the bump (NULL when the conversation does not exist), how many were stored, and the
     * repeats' first messages with their `n`.
     */
    appendBatch: `WITH items AS (
        SELECT * FROM jsonb_to_recordset($2::jsonb) AS x (n integer, id text, kind text, sender_id text, sender jsonb,
          content text, parts jsonb, status text, reply_to integer, client_message_id text, created_at text, metadata jsonb)
      ), repeat AS (
        -- LIMIT keeps the lookup per item (an index probe each), never a scan of the conversation's messages.
        SELECT i.n, m.* FROM items i CROSS JOIN LATERAL (
          SELECT ${MESSAGE_COLUMNS} FROM ${m}
          WHERE conversation_id = $1 AND sender_id = i.sender_id AND client_message_id = i.client_message_id LIMIT 1
        ) m
      ), fresh AS (
        SELECT i.*, row_number() OVER (ORDER BY i.n) AS k FROM items i WHERE NOT EXISTS (SELECT FROM repeat r WHERE r.n = i.n)
      ), bump AS (
        UPDATE ${c} SET last_seq = last_seq + (SELECT count(*) FROM fresh),
          updated_at = (SELECT created_at FROM fresh ORDER BY n DESC LIMIT 1)
        WHERE id = $1 AND EXISTS (SELECT FROM fresh)
        RETURNING last_seq
      ), stored AS (
        INSERT INTO ${m} (conversation_id, seq, id, kind, sender_id, sender, content, parts, status, reply_to,
          client_message_id, created_at, metadata)
        SELECT $1, b.last_seq - (SELECT count(*) FROM fresh) + f.k, f.id, f.kind, f.sender_id, f.sender, f.content,
          f.parts, f.status, f.reply_to, f.client_message_id, f.created_at, f.metadata
        FROM fresh f, bump b
        RETURNING seq
      )
      SELECT (SELECT last_seq FROM bump) AS last_seq, (SELECT count(*)::integer FROM stored) AS stored,
        (SELECT jsonb_agg(r) FROM repeat r) AS repeats`,
    // When `parts` is written it is not read back: the caller has it (an AI answer, possibly large).
    updateMessage: `UPDATE ${m} SET content = COALESCE($3, content), parts = COALESCE($4::jsonb, parts),
        status = COALESCE($5, status), metadata = COALESCE($6::jsonb, metadata)
      WHERE conversation_id = $1 AND id = $2
      RETURNING conversation_id, seq, id, kind, sender, content, CASE WHEN $4::jsonb IS NULL THEN parts END AS parts,
        status, reply_to, client_message_id, created_at, metadata`,
    messagesAfter: `SELECT ${MESSAGE_COLUMNS} FROM ${m} WHERE conversation_id = $1 AND seq > $2 AND seq < $3
      ORDER BY seq LIMIT $4`,
    newestMessages: `SELECT * FROM (
        SELECT ${MESSAGE_COLUMNS} FROM ${m} WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3
      ) AS newest ORDER BY seq`,
    findByClientId: `SELECT ${MESSAGE_COLUMNS} FROM ${m}
      WHERE conversation_id = $1 AND sender_id = $2 AND client_message_id = $3`,
    /*
     * AI answers whose writer died, failed in one statement. SKIP LOCKED: a sweep running at the same time in
     * another process takes other rows instead of waiting; the outer condition is checked again on the row
     * as it is when locked, so an answer finished meanwhile stays as its writer left it.
     */
    // MATERIALIZED: the LIMIT is taken once (a subquery the planner re-ran would pick further rows).
    failStaleAnswers: `WITH stale AS MATERIALIZED (
        SELECT conversation_id AS stale_conversation, seq AS stale_seq FROM ${m}
        WHERE kind = 'ai' AND status = 'streaming' AND created_at < $1
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
      )
      UPDATE ${m} SET status = 'failed' FROM stale
      WHERE conversation_id = stale_conversation AND seq = stale_seq AND kind = 'ai' AND status = 'streaming'
      RETURNING ${MESSAGE_COLUMNS}`,

    lastSeq: `SELECT last_seq FROM ${c} WHERE id = $1`,
    /*
     * History search (migrations 3, 4): $3 is the query text, read into words (`query.terms`) exactly as the
     * messages' text is indexed (`searchText`), so no syntax of the user's survives; a message matching any of
     * them scores the distinct ones it holds, then their occurrences (its vector's positions). $2 is the highest
     * seq searched, ($4, $5, $6) the key of the last match of the page before (search-query.ts): the page is
     * the matches ranking after it.
     */
    searchMessages: `WITH query AS (SELECT tsvector_to_array(to_tsvector('simple'::regconfig, ${searchText('$3::text')})) AS terms)
      SELECT ${MESSAGE_COLUMNS}, score.words, score.hits FROM ${m} CROSS JOIN query
      CROSS JOIN LATERAL (SELECT count(*)::integer AS words, coalesce(sum(cardinality(u.positions)), 0)::integer AS hits
        FROM unnest(content_search) AS u WHERE u.lexeme = ANY (query.terms)) AS score
      WHERE conversation_id = $1 AND seq <= $2
        AND content_search @@ (SELECT array_to_string(array(SELECT quote_literal(t) FROM unnest(terms) AS t), ' | ')::tsquery FROM query)
        AND (score.words, score.hits, seq) < ($4::integer, $5::integer, $6::integer)
      ORDER BY score.words DESC, score.hits DESC, seq DESC LIMIT $7`,

    appendAudit: `INSERT INTO ${a} (id, at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
    listAudit: `SELECT id, at, actor, action, target, details FROM ${a} ORDER BY id DESC LIMIT $1`,
    listAuditBefore: `SELECT id, at, actor, action, target, details FROM ${a} WHERE id < $1 ORDER BY id DESC LIMIT $2`
  })
}

export type Statements = ReturnType<typeof statements>
