import { applyDecorators } from '@nestjs/common';
import { ApiQuery, ApiResponse } from '@nestjs/swagger';

/** One `{status, data}` answer in the OpenAPI description. */
export function ApiEnvelopeDoc(
  status: number,
  description: string,
  data: unknown,
): MethodDecorator {
  return ApiResponse({
    status,
    description,
    schema: {
      type: 'object',
      properties: { status: { type: 'integer', example: status }, data: { example: data } },
    },
  });
}

/** A parameter read by @RequestParam: query string, or url-encoded POST body. */
export function ApiRequestParam(
  name: string,
  description: string,
  required = true,
): MethodDecorator {
  return applyDecorators(
    ApiQuery({
      name,
      description: `${description} (query string or url-encoded POST body)`,
      required,
    }),
  );
}

export const ROOM_RULE = '1-128 characters of A-Z a-z 0-9 _ . -, not starting with "."';
const KEY_EXAMPLE = 'q3YxVb0hT7cN2pLmZ8rWfK4sJ6dGe1aUoXiQyR5nB9tHvC0w';

/** The room parameter and the errors every key endpoint shares. */
export function ApiRoomCall(success: unknown, extra: MethodDecorator[] = []): MethodDecorator {
  return applyDecorators(
    ApiRequestParam('room', `room name: ${ROOM_RULE}`),
    ApiEnvelopeDoc(200, 'success', success),
    ApiEnvelopeDoc(400, 'missing or invalid room', `invalid room: it must be ${ROOM_RULE}`),
    ApiEnvelopeDoc(401, 'missing or invalid token (when jwt.secret is set)', 'token expired'),
    ApiEnvelopeDoc(503, 'the key store (Redis) does not answer', 'key store unavailable'),
    ...extra,
  );
}

export const KEY_SAMPLE = KEY_EXAMPLE;
