/*
 * The Nest module of the README's NestJS example: what a Nest project
 * writes with decorators,
 *
 *   @Controller()
 *   class VisitsController {
 *     @Get() async show(@Req() request: FastifyRequest) { … }
 *     @Post('visit') visit(@Req() request: FastifyRequest) { … }
 *   }
 *   @Module({ controllers: [VisitsController] }) export class AppModule {}
 *
 * with the same decorators applied as calls: this repository compiles
 * without `experimentalDecorators`, which Nest's decorators need as syntax.
 */
import { Controller, Get, Module, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

class VisitsController {
  public async show(request: FastifyRequest): Promise<string> {
    return `visits: ${Number((await request.session.get('visits')) ?? 0)}`;
  }

  /** Lossless read-modify-write, committed in onSend with the reply's cookie. */
  public visit(request: FastifyRequest): Promise<Readonly<Record<string, unknown>>> {
    return request.session.update((d) => ({ ...d, visits: Number(d.visits ?? 0) + 1 }));
  }
}

function route(decorator: MethodDecorator, name: 'show' | 'visit'): void {
  const { prototype } = VisitsController;
  const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
  if (descriptor === undefined) throw new Error(`no method ${name}`);
  Req()(prototype, name, 0);
  decorator(prototype, name, descriptor);
}
Controller()(VisitsController);
route(Get(), 'show');
route(Post('visit'), 'visit');

/** The application's root module. */
// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- a Nest module is a class its decorator describes
export class AppModule {}
Module({ controllers: [VisitsController] })(AppModule);
