// Input of admin.webhooks.replay.
import { z } from 'zod';

export default z.object({
  svixId: z.string().min(1).max(200),
});
