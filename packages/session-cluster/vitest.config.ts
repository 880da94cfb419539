import { sessionClusterProject } from '../../vitest.shared.ts';

export default sessionClusterProject('session-cluster');
