/** Services (issue 11) on a 3-node host-gw lab: the scenarios are in test/support/services-suite.ts. */
import { servicesSuite } from './support/services-suite.js';

servicesSuite('host-gw', 'tshg');
