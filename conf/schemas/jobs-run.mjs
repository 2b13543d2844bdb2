// Input of admin.jobs.run.
import { z } from 'zod';

export default z.object({
  job: z.string().min(1).max(200),
});
