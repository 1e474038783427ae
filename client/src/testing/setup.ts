import { provideHttpClient, withInterceptors } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { EnvironmentProviders, Provider } from '@angular/core';
import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';

import { User } from '../app/core/api-types';
import { LIVE_SOCKET_FACTORY } from '../app/core/live';
import { Session } from '../app/core/session';
import { unauthorizedInterceptor } from '../app/core/unauthorized.interceptor';
import { FakeSocket } from './fixtures';

/** The app's HTTP stack against HttpTestingController, a router, and fake sockets to drive. */
export function setUpTestBed(extra: (Provider | EnvironmentProviders)[] = []): {
  http: HttpTestingController;
  sockets: FakeSocket[];
} {
  const sockets: FakeSocket[] = [];
  TestBed.configureTestingModule({
    providers: [
      provideHttpClient(withInterceptors([unauthorizedInterceptor])),
      provideHttpClientTesting(),
      provideRouter([]),
      {
        provide: LIVE_SOCKET_FACTORY,
        useValue: () => {
          const socket = new FakeSocket();
          sockets.push(socket);
          return socket;
        },
      },
      ...extra,
    ],
  });
  return { http: TestBed.inject(HttpTestingController), sockets };
}

/** Signs `user` in through the real Session, answering its login request. */
export function signIn(http: HttpTestingController, user: User): void {
  TestBed.inject(Session).login(user.username, 'pw').subscribe();
  http.expectOne('/api/auth/login').flush({ user });
  TestBed.tick();
}

/** Answers the newest open request to `url` (older ones were superseded and cancelled). */
export function flushLatest(http: HttpTestingController, url: string, body: object): void {
  const open = http.match(url).filter((request) => !request.cancelled);
  expect(open.length).toBeGreaterThan(0);
  open[open.length - 1].flush(body);
}
