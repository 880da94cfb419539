import { sessionClusterProject } from '../../vitest.shared.ts';

export default sessionClusterProject('sweeper-app');
