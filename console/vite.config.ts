// Vite build of the console: one small bundle (no framework) into VIGIL_CONSOLE_OUT (CMake sets
// <build>/console/dist) or ./dist. `npm run dev` proxies /api to a manager on VIGIL_MANAGER.
import { defineConfig } from "vite";

const manager = process.env.VIGIL_MANAGER ?? "http://127.0.0.1:8080";

export default defineConfig({
  build: {
    outDir: process.env.VIGIL_CONSOLE_OUT ?? "dist",
    emptyOutDir: true,
    target: "es2020",
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { proxy: { "/api": { target: manager, changeOrigin: false } } },
});
