/** Services (issue 11) on a 3-node vxlan lab: the scenarios are in test/support/services-suite.ts. */
import { servicesSuite } from './support/services-suite.js';

servicesSuite('vxlan', 'tsvx');
