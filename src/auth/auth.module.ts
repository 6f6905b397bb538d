import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { AppConfig } from '../config/app-config';
import { JwtAuthGuard } from './jwt-auth.guard';
import { jwtOptions } from './jwt-options';
import { JwtStrategy } from './jwt.strategy';

/**
 * JWT on everything served by the API listener but @Public() routes. `JwtService` is exported, signing
 * with the configured secret and algorithm, for a module that issues tokens.
 */
@Module({
  imports: [
    PassportModule,
    JwtModule.registerAsync({ inject: [AppConfig], useFactory: jwtOptions }),
  ],
  providers: [JwtStrategy, { provide: APP_GUARD, useClass: JwtAuthGuard }],
  exports: [JwtModule],
})
export class AuthModule {}
