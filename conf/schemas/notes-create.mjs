// Input of mentorado.notes.create.
import { z } from 'zod';

export default z.object({
  sessionId: z.number().int().positive(),
  notes: z.string().max(10_000),
});
