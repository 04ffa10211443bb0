import type { FastifyBaseLogger } from 'fastify'
import { startAnswerSweep, type AnswerSweep } from './answer-sweep.ts'
import type { CachedConversation, ConversationCache } from './cache.ts'
import type { Channels } from './channels.ts'
import { newId } from './ids.ts'
import type { ChatMetrics } from './metrics.ts'
import type { AgentApi, AgentParticipant } from './participants/participant.ts'
import type { Message } from './schemas/entities.ts'
import { streamEndFrame } from './server-frames.ts'
import type { AppendResult, ChatStorage, MessageDraft, ReplyFor } from './storage/types.ts'

/**
 * The one owner of AI answers, from the question to the answer's end:
 * - **claim**: before a human message is stored, the conversation's agents are asked whether one answers it
 *   (AgentParticipant.replyDraft); its placeholder is stored in the question's step, by the instance storing
 *   the question, so each question is answered once, by that instance;
 * - **deliver**: as messages go out in order, the claiming agent gets its question with the placeholder, and
 *   every other agent of the conversation hears the message;
 * - **finish**: the agent streams through the AgentApi and stores its end; `stream.end` reaches the sockets and
 *   caches of every instance, also when the end could not be stored;
 * - **sweep**: answers whose instance died are failed after a timeout (answer-sweep.ts).
 */
export interface Answers {
  /** Called before a human message is stored: the ReplyFor that stores its answer's placeholder with it, if any. */
  claim (entry: CachedConversation, question: MessageDraft): ReplyFor | undefined
  /** How the store went: a repeat or a failure (`result` undefined) drops the claim. */
  settle (question: MessageDraft, result: AppendResult | undefined): void
  /** A message went out in order (`remote`: another instance stored it). */
  delivered (message: Message, remote: boolean): void
  /** A conversation was deleted: its answers stop. */
  deleted (conversationId: string): void
  /**
   * The conversation is overloaded: its running answers end now (stored 'cancelled', stream.end sent), before
   * any human send is refused. How many were stopped.
   */
  shed (conversationId: string): number
  /** Attaches the agents and starts the sweep (once the fan-out runs, so ends reach every instance). */
  start (opts: { alone: boolean }): Promise<void>
  close (): Promise<void>
}

export interface AnswersDeps {
  agents: Map<string, AgentParticipant>
  storage: ChatStorage
  cache: ConversationCache
  channels: Channels
  log: FastifyBaseLogger
  metrics: ChatMetrics
  /** Stores an agent's message in order, like any other (the conversation manager's post). */
  post: (conversationId: string, draft: MessageDraft) => Promise<Message>
  /** The AI participants' timeout (`ai.timeoutMs`): answers older than it and a grace are swept. */
  timeoutMs: number
}

interface Claim {
  agentId: string
  placeholder: MessageDraft
  reply?: Message
}

export function createAnswers (deps: AnswersDeps): Answers {
  const { agents, storage, cache, channels, log } = deps
  /** Answers claimed here, by question id, until the question is delivered (directly or by the gap filler). */
  const claims = new Map<string, Claim>()
  /** Answers handed to an agent here and not finished yet, by message id: what a failed finish ends. */
  const open = new Map<string, Message>()
  let sweep: AnswerSweep | undefined
  let closing: Promise<void> | undefined

  /** The agent and stored placeholder of a delivered question's answer, once. */
  function take (question: Message): { agentId: string, reply: Message } | undefined {
    const claim = claims.get(question.id)
    if (claim === undefined) return undefined
    claims.delete(question.id)
    const reply = claim.reply ??
      { ...claim.placeholder, conversationId: question.conversationId, seq: question.seq + 1, replyTo: question.seq }
    return { agentId: claim.agentId, reply }
  }

  /** Every AI participant of the conversation but `except` hears the message. */
  function tellAgents (entry: CachedConversation | null, message: Message, except: string | undefined): void {
    for (const p of entry?.participants.values() ?? []) {
      if (p.type === 'ai' && p.id !== except) agents.get(p.id)?.onMessage(message.conversationId, message)
    }
  }

  const api: AgentApi = {
    async participants (conversationId) {
      const entry = await cache.get(conversationId)
      return entry === null ? [] : [...entry.participants.values()]
    },
    async recentMessages (conversationId, limit) {
      const entry = await cache.get(conversationId)
      if (entry === null) return []
      const hi = entry.record.lastSeq + 1
      return cache.window(entry, Math.max(0, hi - 1 - limit), hi) ??
        await storage.getMessages(conversationId, { limit })
    },
    async post (conversationId, draft) {
      const message = await deps.post(conversationId, { ...draft, id: draft.id ?? newId(), createdAt: new Date().toISOString() })
      if (message.kind === 'ai' && message.status === 'streaming') open.set(message.id, message)
      return message
    },
    broadcast (conversationId, frame) {
      channels.broadcast(conversationId, Buffer.from(frame))
    },
    flush (conversationId) {
      channels.peek(conversationId)?.flush()
    },
    async finish (conversationId, messageId, patch, encoded, ended) {
      const placeholder = open.get(messageId)
      open.delete(messageId)
      let message: Message | null
      try {
        message = await storage.updateMessage(conversationId, messageId, patch, encoded)
      } catch (err) {
        // Not stored: every instance's sockets still see the answer end (failed), so none waits on a stream that
        // will not finish. Caches keep what storage has; the sweep stores the failure (and ends it again, with
        // the stored message) once storage is back.
        if (placeholder !== undefined) {
          const failed: Message = { ...placeholder, ...patch, status: 'failed' }
          ended?.(failed)
          channels.broadcast(conversationId, streamEndFrame(failed, encoded?.parts))
        }
        throw err
      }
      if (message === null) return null
      ended?.(message) // no await from here to the broadcast: a joining socket sees the answer listed or ended
      channels.updated(message, streamEndFrame(message, encoded?.parts))
      return message
    }
  }

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

    delivered (message, remote) {
      if (agents.size === 0) return
      // The agent that claimed this question answers it, even if it left the conversation meanwhile: its
      // placeholder is stored and must be finished.
      const claim = take(message)
      const answering = claim === undefined ? undefined : agents.get(claim.agentId)
      if (claim !== undefined && answering !== undefined) {
        open.set(claim.reply.id, claim.reply)
        answering.onMessage(message.conversationId, message, claim.reply)
      }
      if (remote) return // the instance that stored it tells its agents
      const except = claim?.agentId
      const entry = cache.peek(message.conversationId)
      if (entry !== undefined) {
        tellAgents(entry, message, except)
      } else {
        // An evicted conversation is loaded again.
        cache.get(message.conversationId).then((loaded) => { tellAgents(loaded, message, except) },
          (err: unknown) => { log.error({ err }, 'chat AI notification failed') })
      }
    },

    deleted (conversationId) {
      for (const agent of agents.values()) agent.cancel(conversationId)
    },

    shed (conversationId) {
      let stopped = 0
      for (const agent of agents.values()) if (agent.cancel(conversationId)) stopped++
      if (stopped > 0) {
        deps.metrics.aiShed.inc(stopped)
        log.warn({ conversationId }, 'chat conversation overloaded: its AI answers were shed')
      }
      return stopped
    },

    async start ({ alone }) {
      for (const agent of agents.values()) agent.attach(api, { log, metrics: deps.metrics })
      sweep = await startAnswerSweep({ storage, channels, log, timeoutMs: deps.timeoutMs, alone })
    },

    async close () {
      // Once, whether the drain or the final close comes first: running answers end (stored, stream.end sent).
      closing ??= (async () => {
        await sweep?.close()
        await Promise.all([...agents.values()].map(async (a) => { await a.close() }))
      })()
      await closing
    }
  }
}
