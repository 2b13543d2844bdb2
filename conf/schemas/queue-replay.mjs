// Input of admin.queue.replay.
import { z } from 'zod';

export default z.object({
  id: z.number().int().positive(),
});
