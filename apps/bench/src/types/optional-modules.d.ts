// Optional GPU packages the bench imports only inside its bundle (scripts/bundle.ts resolves them from
// @peftjs/core, whose optional dependencies they are). Shapes are declared where they are used.
declare module "webgpu";
declare module "@tensorflow/tfjs-backend-webgpu";
