import type { CachedConversation } from './cache.ts'
import type { AgentParticipant } from './participants/participant.ts'
import type { Message } from './schemas/entities.ts'
import type { AppendResult, MessageDraft, ReplyFor } from './storage/types.ts'

interface Claim {
  agentId: string
  placeholder: MessageDraft
  reply?: Message
}

export interface AnswerClaims {
  /**
   * Asks the conversation's agents, before a human message is stored, whether one will answer it
   * (AgentParticipant.replyDraft). If so, returns the ReplyFor that stores its placeholder in the same step.
   */
  claim (entry: CachedConversation, question: MessageDraft): ReplyFor | undefined
  /** Records how the store went: a repeat or a failure (`result` undefined) drops the claim. */
  settle (question: MessageDraft, result: AppendResult | undefined): void
  /** The agent and stored placeholder of a delivered question's answer, once. */
  take (question: Message): { agentId: string, reply: Message } | undefined
}

/**
 * Answers claimed before their question was stored, by question id: the agent that stored the placeholder in
 * this process answers it, whichever way the question is delivered (directly, or by the gap filler).
 */
export function createAnswerClaims (agents: Map<string, AgentParticipant>): AnswerClaims {
  const claims = new Map<string, Claim>()
  return {
    claim (entry, question) {
      if (agents.size === 0) return undefined
      let humans = 0
      for (const p of entry.participants.values()) if (p.type === 'human') humans++
      for (const p of entry.participants.values()) {
        if (p.type !== 'ai') continue
        const placeholder = agents.get(p.id)?.replyDraft?.(entry.record.id, question, humans)
        if (placeholder === undefined) continue
        claims.set(question.id, { agentId: p.id, placeholder })
        return (stored) => ({ ...placeholder, replyTo: stored.seq })
      }
      return undefined
    },

    settle (question, result) {
      const claim = claims.get(question.id)
      if (claim === undefined) return
      if (result === undefined || !result.created || result.reply === undefined) claims.delete(question.id)
      else claim.reply = result.reply
    },

    take (question) {
      const claim = claims.get(question.id)
      if (claim === undefined) return undefined
      claims.delete(question.id)
      const reply = claim.reply ??
        { ...claim.placeholder, conversationId: question.conversationId, seq: question.seq + 1, replyTo: question.seq }
      return { agentId: claim.agentId, reply }
    }
  }
}
