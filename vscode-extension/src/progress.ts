/**
 * The server's `$/progress` (generation, optimisation) as cancellable notifications.
 *
 * vscode-languageclient shows work-done progress in the status bar, where it cannot be
 * cancelled; a generation takes long enough that users want the notification's Cancel
 * button. Registered after the client started, this handler replaces the built-in one for
 * `window/workDoneProgress/create`; cancelling sends `window/workDoneProgress/cancel`.
 */

import * as vscode from "vscode";
import {
  LanguageClient,
  ProgressToken,
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  WorkDoneProgressReport,
} from "vscode-languageclient/node";

export function showProgressAsNotifications(client: LanguageClient): vscode.Disposable {
  return client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
    new NotificationProgress(client, token);
  });
}

class NotificationProgress {
  private readonly listener: vscode.Disposable;
  private progress: vscode.Progress<{ message?: string; increment?: number }> | undefined;
  private finish: (() => void) | undefined;
  private reported = 0;
  private ended = false;

  constructor(private readonly client: LanguageClient, private readonly token: ProgressToken) {
    this.listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === "begin") {
        this.begin(value);
      } else if (value.kind === "report") {
        this.report(value);
      } else {
        this.end();
      }
    });
  }

  private begin(params: WorkDoneProgressBegin): void {
    const options = { location: vscode.ProgressLocation.Notification, title: params.title, cancellable: params.cancellable === true };
    void vscode.window.withProgress(options, (progress, cancellation) => {
      this.progress = progress;
      this.report(params);
      cancellation.onCancellationRequested(() => {
        void this.client.sendNotification(WorkDoneProgressCancelNotification.type, { token: this.token });
      });
      return new Promise<void>((resolve) => {
        this.finish = resolve;
        if (this.ended) {
          resolve();
        }
      });
    });
  }

  private report(params: WorkDoneProgressBegin | WorkDoneProgressReport): void {
    if (!this.progress) {
      return;
    }
    const increment = typeof params.percentage === "number" ? Math.max(0, params.percentage - this.reported) : undefined;
    if (typeof params.percentage === "number") {
      this.reported = Math.max(this.reported, params.percentage);
    }
    this.progress.report({ message: params.message, increment });
  }

  private end(): void {
    this.ended = true;
    this.listener.dispose();
    this.finish?.();
  }
}
