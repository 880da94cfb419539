import { sessionClusterProject } from '../../vitest.shared.ts';

export default sessionClusterProject('fastify');
