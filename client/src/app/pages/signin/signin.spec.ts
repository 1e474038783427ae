import { TestBed } from '@angular/core/testing';
import { Router } from '@angular/router';

import { makeUser } from '../../../testing/fixtures';
import { setUpTestBed } from '../../../testing/setup';
import { Session } from '../../core/session';
import { Signin, safeNext } from './signin';

describe('Signin', () => {
  async function setUp(next?: string) {
    const { http } = setUpTestBed();
    const navigate = vi.spyOn(TestBed.inject(Router), 'navigateByUrl').mockResolvedValue(true);
    const fixture = TestBed.createComponent(Signin);
    if (next) {
      fixture.componentRef.setInput('next', next);
    }
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    const field = (label: string) => {
      const labelElement = [...element.querySelectorAll('label')].find((l) => l.textContent === label)!;
      return element.querySelector<HTMLInputElement>(`#${labelElement.htmlFor}`)!;
    };
    const fill = (label: string, value: string) => {
      field(label).value = value;
      field(label).dispatchEvent(new Event('input'));
    };
    const submit = async () => {
      element.querySelector<HTMLButtonElement>('button[type=submit]')!.click();
      await fixture.whenStable();
    };
    return { http, fixture, element, field, fill, submit, navigate };
  }

  it('marks empty fields invalid instead of sending', async () => {
    const { http, submit, field, element } = await setUp();
    await submit();
    expect(field('Username').getAttribute('aria-invalid')).toBe('true');
    expect(element.textContent).toContain('Enter your password.');
    http.verify();
  });

  it("shows the server's message for a wrong password", async () => {
    const { http, fill, submit, element, fixture } = await setUp();
    fill('Username', 'ana');
    fill('Password', 'nope');
    await submit();
    http.expectOne('/api/auth/login').flush({ msg: 'wrong username or password' }, { status: 401, statusText: 'x' });
    await fixture.whenStable();
    expect(element.querySelector('[role=alert]')?.textContent).toBe('wrong username or password');
  });

  it('signs in and goes where the visitor was headed', async () => {
    const { http, fill, submit, navigate } = await setUp('/notifications');
    fill('Username', 'ana');
    fill('Password', 'secret-pw');
    await submit();
    const login = http.expectOne('/api/auth/login');
    expect(login.request.body).toEqual({ username: 'ana', password: 'secret-pw' });
    login.flush({ user: makeUser() });
    expect(TestBed.inject(Session).user()?.username).toBe('ana');
    expect(navigate).toHaveBeenCalledWith('/notifications');
  });
});

describe('safeNext', () => {
  it('follows only paths inside the app', () => {
    expect(safeNext('/p/3')).toBe('/p/3');
    expect(safeNext(undefined)).toBe('/');
    expect(safeNext('https://evil.test/')).toBe('/');
    expect(safeNext('//evil.test/')).toBe('/');
  });
});
