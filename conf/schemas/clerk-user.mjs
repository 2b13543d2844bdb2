// Input of admin.clerk.user: a Clerk user id, put into the path of the
// call to Clerk's Backend API (percent-encoded there in any case).
import { z } from 'zod';

export default z.object({
  userId: z.string().regex(/^user_[A-Za-z0-9]{1,64}$/),
});
