// Input of mentorado.sessions.list: the same Zod schema a tRPC router
// would give to .input(); `make schemas` exports it to sessions-list.json.
import { z } from 'zod';

export default z.object({
  limit: z.number().int().min(1).max(100),
  before: z.iso.datetime().optional(),
});
