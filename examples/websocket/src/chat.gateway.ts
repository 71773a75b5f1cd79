import { UseGuards } from '@nestjs/common';
import { MessageBody, type OnGatewayConnection, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { AuthData, Security, Session, SessionAuthGuard, WsSessionService } from '@novanest/session';
import type { Server, Socket } from 'socket.io';
import { signedIn } from './security.js';
import './session-data.js';

/**
 * A chat room for signed-in users. The handshake is checked once, in handleConnection; every
 * message is checked again by SessionAuthGuard against the session as the store holds it now,
 * so a logout over HTTP refuses the socket's next message.
 */
@WebSocketGateway()
@UseGuards(SessionAuthGuard)
@Security(signedIn)
export class ChatGateway implements OnGatewayConnection {
  @WebSocketServer() server!: Server;

  constructor(private readonly wsSessions: WsSessionService) {}

  async handleConnection(client: Socket): Promise<void> {
    // Denied (no session, or logged out): the client gets an `exception` message and is disconnected.
    const handshake = await this.wsSessions.authorize(client, signedIn);
    if (handshake === undefined) return;
    client.emit('welcome', { text: `Hello ${String(handshake.authData?.username)}!` });
  }

  /** Needs a session: said to everyone in the room. */
  @SubscribeMessage('say')
  say(@AuthData('username') username: string, @MessageBody() text: unknown): void {
    this.server.emit('said', { from: username, text: String(text).slice(0, 500) });
  }

  /**
   * Needs a session, and changes it: no HTTP response follows a message, so the change is
   * saved explicitly (unsaved changes are dropped).
   */
  @SubscribeMessage('count')
  async count(@Session() session: Session) {
    const sent = ((await session.get('sent')) ?? 0) + 1;
    await session.set('sent', sent);
    await session.save();
    return { event: 'counted', data: { sent } };
  }
}
