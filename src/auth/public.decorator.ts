import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'livego:public';

/** Marks a route that never needs a token (the global JwtAuthGuard lets it through). */
export const Public = () => SetMetadata(IS_PUBLIC, true);
