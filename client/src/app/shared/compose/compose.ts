import { ChangeDetectionStrategy, Component, ElementRef, computed, inject, output, signal, viewChild } from '@angular/core';
import { Observable, of, switchMap } from 'rxjs';

import { Api } from '../../core/api';
import { errorMessage } from '../../core/api-error';
import { Post } from '../../core/api-types';
import { ACCEPTED_IMAGE_TYPES, imageProblem } from '../../core/image-check';
import { renderMarkdown } from '../../core/markdown';
import { MentionTextarea } from '../mention-textarea/mention-textarea';

/** Writes a post: markdown with a live preview, @mention suggestions and one optional image. */
@Component({
  selector: 'app-compose',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [MentionTextarea],
  templateUrl: './compose.html',
  styleUrl: './compose.css',
})
export class Compose {
  private readonly api = inject(Api);
  private readonly fileInput = viewChild.required<ElementRef<HTMLInputElement>>('fileInput');

  readonly posted = output<Post>();
  readonly accept = ACCEPTED_IMAGE_TYPES.join(',');
  readonly body = signal('');
  readonly image = signal<File | null>(null);
  readonly imageError = signal<string | null>(null);
  readonly error = signal<string | null>(null);
  readonly sending = signal(false);
  readonly showPreview = signal(false);
  readonly preview = computed(() => (this.showPreview() ? renderMarkdown(this.body()) : ''));
  readonly canSend = computed(() => this.body().trim().length > 0 && !this.sending());

  onFile(input: HTMLInputElement): void {
    const file = input.files?.[0] ?? null;
    const problem = file ? imageProblem(file) : null;
    this.imageError.set(problem);
    this.image.set(problem ? null : file);
    if (problem) {
      input.value = '';
    }
  }

  removeImage(): void {
    this.image.set(null);
    this.imageError.set(null);
    this.fileInput().nativeElement.value = '';
  }

  submit(event: Event): void {
    event.preventDefault();
    if (!this.canSend()) {
      return;
    }
    const image = this.image();
    this.sending.set(true);
    this.error.set(null);
    const imageUrl: Observable<string | null> = image ? this.api.upload(image) : of(null);
    imageUrl
      .pipe(switchMap((url) => this.api.createPost(this.body(), url)))
      .subscribe({
        next: (post) => {
          this.sending.set(false);
          this.body.set('');
          this.showPreview.set(false);
          this.removeImage();
          this.posted.emit(post);
        },
        error: (error: unknown) => {
          this.sending.set(false);
          this.error.set(errorMessage(error));
        },
      });
  }
}
