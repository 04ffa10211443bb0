import type { Static, TSchema } from '@sinclair/typebox'
import type { FastifyTypeProvider } from 'fastify'

/**
 * Fastify's type provider for TypeBox 0.34 schemas: a route's params, query, body and replies get their
 * types from the same schemas that validate, serialize and document them. Use it as
 * `fastify.withTypeProvider<TypeBoxTypeProvider>()`.
 */
export interface TypeBoxTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown
  serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown
}
