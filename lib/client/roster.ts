import type { Participant } from '../schemas/entities.ts'
import type { JoinedFrame, ParticipantFrame, PresenceFrame } from '../schemas/server-frames.ts'

/**
 * Who is in each joined conversation and who is online there, as the frames tell it: `joined` (the whole list,
 * or in a big conversation its first part, `participantCount` and the ids `online`), then `participant` frames
 * (membership, and presence in small conversations) and `presence` frames (presence in big ones, coalesced).
 */
export class Roster {
  private readonly records = new Map<string, Participant>()
  private readonly onlineIds = new Set<string>()
  /** Removed by a `left` (and not added back since): a `presence` frame's `online` for them is ignored. */
  private readonly removed = new Set<string>()
  private count = 0

  /** A `joined`: everything known before is replaced. */
  joined (frame: JoinedFrame): void {
    this.records.clear()
    this.onlineIds.clear()
    this.removed.clear()
    for (const p of frame.conversation.participants) {
      this.records.set(p.id, p)
      if (p.online) this.onlineIds.add(p.id)
    }
    for (const id of frame.online ?? []) this.onlineIds.add(id)
    this.count = frame.participantCount ?? frame.conversation.participants.length
  }

  /** A `participant` frame (membership or presence). */
  participant (frame: ParticipantFrame): void {
    const { event, participant } = frame
    if (event === 'left') {
      if (this.records.delete(participant.id) || this.count > this.records.size) this.count = Math.max(0, this.count - 1)
      this.onlineIds.delete(participant.id)
      this.removed.add(participant.id)
      return
    }
    if (event === 'joined') this.removed.delete(participant.id)
    else if (this.removed.has(participant.id)) return // presence of someone removed, gathered before the `left`
    if (event === 'joined' && !this.records.has(participant.id)) this.count++
    this.records.set(participant.id, participant)
    // `offline` says the user's last socket left this conversation; they may be online elsewhere (`online`).
    if (event === 'offline' || !participant.online) this.onlineIds.delete(participant.id)
    else this.onlineIds.add(participant.id)
  }

  /**
   * A `presence` frame: applies it and returns the `participant` events it stands for, one per participant
   * whose record this roster holds (in a big conversation, those `joined` listed or that joined since). An
   * `online` for a participant a `left` removed is ignored: a batch gathered before the removal may follow it.
   */
  presence (frame: PresenceFrame): ParticipantFrame[] {
    const events: ParticipantFrame[] = []
    const apply = (ids: string[], online: boolean): void => {
      for (const id of ids) {
        if (online && this.removed.has(id)) continue
        if (online) this.onlineIds.add(id)
        else this.onlineIds.delete(id)
        const known = this.records.get(id)
        if (known === undefined) continue
        const participant = { ...known, online }
        this.records.set(id, participant)
        events.push({ type: 'participant', conversationId: frame.conversationId, event: online ? 'online' : 'offline', participant })
      }
    }
    apply(frame.offline, false)
    apply(frame.online, true)
    return events
  }

  /** The participants whose records are known, with their online flags as of now. */
  participants (): Participant[] {
    return [...this.records.values()].map((p) => p.online === this.onlineIds.has(p.id) ? p : { ...p, online: this.onlineIds.has(p.id) })
  }

  /** The ids of the participants online now. */
  online (): string[] {
    return [...this.onlineIds]
  }

  /** How many participants the conversation has (in a big one, more than `participants()` may list). */
  get participantCount (): number {
    return this.count
  }
}
