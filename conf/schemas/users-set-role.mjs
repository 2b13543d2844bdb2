// Input of admin.users.setRole.
import { z } from 'zod';

export default z.object({
  userId: z.number().int().positive(),
  role: z.enum(['user', 'mentorado', 'admin']),
});
