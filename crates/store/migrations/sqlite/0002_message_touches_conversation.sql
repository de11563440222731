-- Storing a message bumps its conversation's updated_at in the same statement, so appending
-- a message is one statement (one round trip, one commit) instead of a three-step transaction.
CREATE TRIGGER messages_touch_conversation AFTER INSERT ON messages
BEGIN
    UPDATE conversations SET updated_at = NEW.created_at WHERE id = NEW.conversation_id;
END;
