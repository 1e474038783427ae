import { Routes } from '@angular/router';

import { anonymousGuard, signedInGuard } from './core/auth-guard';

export const routes: Routes = [
  {
    path: '',
    pathMatch: 'full',
    title: 'Home · Raindrop',
    canActivate: [signedInGuard],
    loadComponent: () => import('./pages/feed/feed').then((m) => m.Feed),
  },
  {
    path: 'signin',
    title: 'Sign in · Raindrop',
    canActivate: [anonymousGuard],
    loadComponent: () => import('./pages/signin/signin').then((m) => m.Signin),
  },
  {
    path: 'signup',
    title: 'Sign up · Raindrop',
    canActivate: [anonymousGuard],
    loadComponent: () => import('./pages/signup/signup').then((m) => m.Signup),
  },
  {
    path: 'notifications',
    title: 'Notifications · Raindrop',
    canActivate: [signedInGuard],
    loadComponent: () => import('./pages/notifications/notifications').then((m) => m.Notifications),
  },
  {
    path: 'p/:id',
    title: 'Post · Raindrop',
    canActivate: [signedInGuard],
    loadComponent: () => import('./pages/post-detail/post-detail').then((m) => m.PostDetail),
  },
  {
    path: 'u/:username',
    title: 'Profile · Raindrop',
    canActivate: [signedInGuard],
    loadComponent: () => import('./pages/profile/profile').then((m) => m.Profile),
  },
  {
    path: '**',
    title: 'Not found · Raindrop',
    loadComponent: () => import('./pages/not-found/not-found').then((m) => m.NotFound),
  },
];
