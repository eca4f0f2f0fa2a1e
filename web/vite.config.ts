import react from '@vitejs/plugin-react'
import { defineConfig } from 'vitest/config'

// `npm run dev` serves the app on :5173 and forwards the API and the chat socket to a running `wegent api`
// (WEGENT_API_URL, default http://127.0.0.1:8000).
const api = process.env.WEGENT_API_URL ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [react()],
  build: {
    // The Python package ships the build (package data): `wegent api` serves it at `/`.
    outDir: '../api/web_dist',
    emptyOutDir: true,
    manifest: true, // tests/web/test_bundle.py measures the chat route's initial JavaScript from it
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: true },
      '/socket.io': { target: api, ws: true, changeOrigin: true },
    },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
})
