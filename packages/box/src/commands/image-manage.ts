/** `box image COMMAND`: Docker's management command over the image verbs. */
import { manage } from "./manage.js";
import type { BoxPaths } from "../paths.js";

export const IMAGE_HELP = `Usage:  box image COMMAND

Manage images

Commands:
  history     Show the history of an image
  import      Import the contents from a tarball to create a filesystem image
  inspect     Display detailed information on one or more images
  load        Load an image from a tar archive or STDIN
  ls          List images
  prune       Remove unused images
  pull        Download an image from a registry
  push        Upload an image to a registry
  rm          Remove one or more images
  save        Save one or more images to a tar archive (streamed to STDOUT by default)
  tag         Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE

Run 'box image COMMAND --help' for more information on a command.
`;

/** `box image X ...` -> the top-level verb it stands for, so both spellings share one code path. */
export const IMAGE_ALIASES: Record<string, string> = {
  ls: "images",
  list: "images",
  rm: "rmi",
  remove: "rmi",
  pull: "pull",
  push: "push",
  tag: "tag",
  history: "history",
  save: "save",
  load: "load",
  import: "import",
  inspect: "image-inspect",
  prune: "image-prune",
};

export async function imageCommand(_paths: BoxPaths, argv: string[], dispatch: (argv: string[]) => Promise<number>): Promise<number> {
  return manage("image", IMAGE_HELP, IMAGE_ALIASES, argv, dispatch);
}
