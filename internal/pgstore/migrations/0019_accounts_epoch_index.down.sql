CREATE INDEX accounts_epoch ON accounts (epoch, id);
