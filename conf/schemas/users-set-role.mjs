// Input of admin.users.setRole.
import { z } from 'zod';

export default z.object({
  userId: z.number().int().positive(),
  // any role of table roles (migrations/0005_roles), checked there, so
  // that adding a role is one migration and no change here
  role: z.string().min(1).max(63),
});
