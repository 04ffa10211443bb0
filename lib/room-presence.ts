import type { CachedConversation } from './cache.ts'
import type { Participant, ParticipantRecord } from './schemas/entities.ts'
import { presenceFrame, shareEncoded, type WireFrame } from './server-frames.ts'

export interface RoomPresenceOptions {
  /** Conversations with more participants than this are big: their presence is coalesced. */
  batchAbove: number
  /** A big conversation's presence changes go out at most this often, in one `presence` frame. */
  intervalMs: number
}

export interface RoomPresence {
  /** True when the conversation is big (more participants than `batchAbove`). */
  big (entry: CachedConversation): boolean
  /**
   * A user's first socket in the conversation subscribed here (online), or their last one went away (offline).
   * Small conversation: `frame()`, the `participant` frame, goes out now (not to `exceptUserId`'s sockets), as
   * it always has. Big one: the change joins the conversation's batch, sent once per interval to everyone.
   */
  change (entry: CachedConversation, userId: string, online: boolean, frame: () => WireFrame, exceptUserId?: string): void
  /**
   * What `joined` shows of a big conversation's participants (`build()` lists them all): the first
   * `batchAbove`, how many there are, and the ids of those online. Built at most once per interval and
   * serialized once (server-frames.ts splices it into every `joined`); built anew after a membership change
   * and after each batch went out, so a joiner misses no change (below).
   */
  snapshot (entry: CachedConversation, build: () => Participant[]): JoinedParticipants
  /**
   * The user was removed from the conversation (their subscriptions ended without a presence change): their
   * change still waiting in the batch is dropped, so no `presence` frame after their `left` lists them.
   */
  drop (id: string, userId: string): void
  /** Membership changed, or another instance's `presence` frame came: the next `joined` builds the list anew. */
  stale (id: string): void
  /** The conversation's live channel is gone here: sends what its batch holds, forgets its list. */
  forget (id: string): void
  /** Sends every batch now and stops the timers (the instance is closing). */
  close (): void
}

interface Batch {
  /** userId → online, in the order of each user's last change. */
  changes: Map<string, boolean>
  timer: NodeJS.Timeout
}

/** A big conversation's participants as `joined` shows them. */
export interface JoinedParticipants {
  /** The first `batchAbove` participants, in the order they joined (the rest: GET /chat/conversations/:id). */
  participants: Participant[]
  participantCount: number
  /** The ids of every participant online. */
  online: string[]
}

interface Snapshot extends JoinedParticipants {
  /** The participants map it was built from: a reloaded conversation has a new one. */
  from: Map<string, ParticipantRecord>
  size: number
  until: number
}

/**
 * Presence in a conversation, as its sockets see it. Up to `batchAbove` participants, each change is one
 * `participant` frame (`online`/`offline`) sent at once. Above it, N sockets joining at once would cost
 * N(N-1)/2 such frames (and leaving as many again); there, changes are gathered per conversation and sent at
 * most once per `intervalMs` as ONE `presence` frame (`online: [ids]`, `offline: [ids]`), serialized once
 * for every socket and carried to the other instances like any frame (`send`). A user who changed more than
 * once within an interval is listed once, in their last state (online then offline: in `offline`).
 *
 * `joined` of a big conversation carries the first `batchAbove` participants, `participantCount` and the ids
 * online (`online`), not the whole list: the same few KB for every joiner, built once per interval. A joiner's
 * view is that snapshot (at most one interval old) followed by every `presence` frame after it subscribed: a
 * change made after the snapshot was built is in a batch not yet sent (the snapshot is dropped whenever a
 * batch goes out), and the joiner is subscribed by the time it goes.
 */
export function createRoomPresence (opts: RoomPresenceOptions, send: (id: string, frame: WireFrame, exceptUserId?: string) => void): RoomPresence {
  const batches = new Map<string, Batch>()
  const snapshots = new Map<string, Snapshot>()

  function big (entry: CachedConversation): boolean {
    return entry.participants.size > opts.batchAbove
  }

  function flush (id: string): void {
    const batch = batches.get(id)
    if (batch === undefined) return
    batches.delete(id)
    clearTimeout(batch.timer)
    snapshots.delete(id)
    const online: string[] = []
    const offline: string[] = []
    for (const [userId, on] of batch.changes) (on ? online : offline).push(userId)
    send(id, presenceFrame(id, online, offline))
  }

  return {
    big,
    change (entry, userId, online, frame, exceptUserId) {
      const id = entry.record.id
      if (!big(entry)) {
        // The conversation shrank below the threshold: what its batch holds goes out first, in order.
        flush(id)
        send(id, frame(), exceptUserId)
        return
      }
      let batch = batches.get(id)
      if (batch === undefined) {
        batch = { changes: new Map(), timer: setTimeout(() => { flush(id) }, opts.intervalMs).unref() }
        batches.set(id, batch)
      }
      batch.changes.delete(userId)
      batch.changes.set(userId, online)
    },
    snapshot (entry, build) {
      const id = entry.record.id
      const now = Date.now()
      let snap = snapshots.get(id)
      if (snap === undefined || snap.from !== entry.participants || snap.size !== entry.participants.size || now >= snap.until) {
        const all = build()
        const online: string[] = []
        for (const p of all) if (p.online) online.push(p.id)
        snap = {
          from: entry.participants,
          size: entry.participants.size,
          until: now + opts.intervalMs,
          participants: shareEncoded(all.slice(0, opts.batchAbove)),
          participantCount: all.length,
          online: shareEncoded(online)
        }
        snapshots.set(id, snap)
      }
      return snap
    },
    drop (id, userId) {
      const batch = batches.get(id)
      if (batch === undefined || !batch.changes.delete(userId)) return
      if (batch.changes.size > 0) return
      // Nothing left to tell: no empty frame.
      batches.delete(id)
      clearTimeout(batch.timer)
    },
    stale (id) {
      snapshots.delete(id)
    },
    forget (id) {
      flush(id)
      snapshots.delete(id)
    },
    close () {
      for (const id of [...batches.keys()]) flush(id)
      snapshots.clear()
    }
  }
}
